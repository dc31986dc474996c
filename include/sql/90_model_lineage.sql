-- One row per training run (written by the training DAG after the pipeline, on both targets):
-- which snapshot and pipeline run produced which model version, and the gate's decision.
-- With snapshot_lineage it answers: landed files → snapshot → pipeline run → model version.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.model_lineage` (
  recorded_at TIMESTAMP,
  target STRING,
  snapshot_name STRING,
  pipeline_run STRING,
  model_name STRING,
  model_version STRING,
  gate_decision STRING,
  gate_reason STRING,
  champion_version STRING,
  metrics_json STRING,
  traffic_json STRING,
  dag_id STRING,
  dag_run_id STRING
);

-- Once per pipeline run of a DAG run: the task that writes it goes on to steps that may fail
-- (keeping snapshots), and each retry wrote the row again.
INSERT INTO `{{ dataset }}.model_lineage`
  (recorded_at, target, snapshot_name, pipeline_run, model_name, model_version, gate_decision,
   gate_reason, champion_version, metrics_json, traffic_json, dag_id, dag_run_id)
SELECT
  CURRENT_TIMESTAMP(), @target, @snapshot_name, @pipeline_run, @model_name, @model_version,
  @gate_decision, @gate_reason, @champion_version, @metrics_json, @traffic_json, @dag_id, @dag_run_id
FROM (SELECT 1 AS one)  -- BigQuery takes no WHERE without a FROM
WHERE NOT EXISTS (
  SELECT 1 FROM `{{ dataset }}.model_lineage` AS m
  WHERE m.dag_id = @dag_id AND m.dag_run_id = @dag_run_id AND m.pipeline_run = @pipeline_run
);
