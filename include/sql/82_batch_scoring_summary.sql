-- Batch scoring, step 4: what the run wrote, for the task log and the demo: rows, the score
-- distribution (min, quartiles, max), the model version(s) that scored them, and the cards the
-- run was given: Vertex's batch job succeeds with instances it could not score, leaving them out
-- of its output, so fewer rows than cards fails the task (orchestration/scoring.py). A card
-- erased during the run is not counted: 80 left it out (macros/card_erasures.sql).
{%- from 'macros/card_erasures.sql' import not_erased_during_run with context %}
SELECT
  COUNT(*) AS rows_written,
  COUNTIF(decision = 'fraud') AS flagged_as_fraud,
  APPROX_QUANTILES(score, 4) AS score_quantiles,
  STRING_AGG(DISTINCT model_version, ',') AS model_versions,
  (
    SELECT COUNT(*) FROM `{{ dataset }}.{{ batch_input_table }}` AS i
    WHERE {{ not_erased_during_run('i') }}
  ) AS cards_in_input
FROM `{{ dataset }}.card_predictions`
WHERE scored_at >= TIMESTAMP_SUB(CAST(@run_after AS TIMESTAMP), INTERVAL 1 DAY)  -- the run's days (80)
  AND scoring_run_id = @run_id
