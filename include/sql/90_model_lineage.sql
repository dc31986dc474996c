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

INSERT INTO `{{ dataset }}.model_lineage`
  (recorded_at, target, snapshot_name, pipeline_run, model_name, model_version, gate_decision,
   gate_reason, champion_version, metrics_json, traffic_json, dag_id, dag_run_id)
VALUES
  (CURRENT_TIMESTAMP(), @target, @snapshot_name, @pipeline_run, @model_name, @model_version,
   @gate_decision, @gate_reason, @champion_version, @metrics_json, @traffic_json, @dag_id, @dag_run_id);
