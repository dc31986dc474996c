-- How many training runs recorded a lineage row for @snapshot_name, whatever their gate decided:
-- an asset event naming a snapshot already trained on (a cleared ingestion run sends it again)
-- trains nothing (fraud_mlops/orchestration/training.py). Fails while no training run has
-- recorded anything (no table yet): the caller counts that as none.
SELECT COUNT(*) AS runs
FROM `{{ dataset }}.model_lineage`
WHERE snapshot_name = @snapshot_name
