-- card_features -> training_examples: the contract of the training pipeline
-- (features + label + event time), and the table every snapshot clones.
CREATE OR REPLACE TABLE `{{ dataset }}.{{ training_table }}` AS
SELECT transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }}
FROM `{{ dataset }}.{{ features_table }}`;
