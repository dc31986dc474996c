-- card_features -> training_examples: the contract of the training pipeline (features + label +
-- event time), and the table every snapshot clones. Incremental: the candidate holds the rows
-- 30_card_features.sql recomputed (the touched cards from their start second); 55_publish.sql
-- replaces those rows of the published table.
CREATE OR REPLACE TABLE `{{ candidate_dataset }}.{{ training_table }}` AS
SELECT transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }}
FROM `{{ candidate_dataset }}.{{ features_table }}`;
