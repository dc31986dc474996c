-- Batch scoring, step 4: what the run wrote, for the task log and the demo: rows, the score
-- distribution (min, quartiles, max) and the model version(s) that scored them.
SELECT
  COUNT(*) AS rows_written,
  COUNTIF(decision = 'fraud') AS flagged_as_fraud,
  APPROX_QUANTILES(score, 4) AS score_quantiles,
  STRING_AGG(DISTINCT model_version, ',') AS model_versions
FROM `{{ dataset }}.card_predictions`
WHERE scoring_run_id = @run_id
