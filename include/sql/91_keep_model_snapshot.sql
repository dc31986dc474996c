-- Lineage outlives the model: a registered model version keeps the snapshot it was trained on
-- as long as the model's own artifacts live (model_retention_days = the pipeline root's
-- lifecycle on gcp), not the 90 days of an unused snapshot. Run after 90_model_lineage.sql
-- whenever a training run registers a version; `snapshot` is a validated snapshot name.
{%- from 'macros/snapshot_lineage.sql' import create_snapshot_lineage with context %}
ALTER TABLE `{{ snapshot_dataset }}.{{ snapshot }}` SET OPTIONS (
  expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {{ model_retention_days }} DAY)
);

{{ create_snapshot_lineage() }}

UPDATE `{{ dataset }}.snapshot_lineage`
SET expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {{ model_retention_days }} DAY)
WHERE snapshot_name = '{{ snapshot }}'
  AND expires_at < TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {{ model_retention_days }} DAY);
