-- How many training runs other than @dag_run_id recorded a lineage row for @snapshot_name,
-- whatever their gate decided: an asset event naming a snapshot already trained on (a cleared
-- ingestion run sends it again) trains nothing; a cleared training run of its own trains again
-- (fraud_mlops/orchestration/training.py). Fails while no training run has recorded anything
-- (no table yet): the caller counts that as none.
SELECT COUNT(*) AS runs
FROM `{{ dataset }}.model_lineage`
WHERE snapshot_name = @snapshot_name
  AND dag_run_id != @dag_run_id
