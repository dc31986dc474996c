-- card_features -> training_examples: the contract of the training pipeline (features + label +
-- event time), and the table every snapshot clones. Incremental: the rows 30_card_features.sql
-- recomputed (feature_scope's cards from their start second) are replaced; then the scope is
-- done. Rerunning changes nothing: the scope is empty and so is the replacement.
BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.{{ training_table }}` AS t
WHERE t.event_time >= CAST(@event_from AS TIMESTAMP)
  AND EXISTS (
    SELECT 1 FROM `{{ dataset }}.feature_scope` AS c
    WHERE c.card_pseudonym = t.card_pseudonym AND UNIX_SECONDS(t.event_time) >= c.start_ts
  );

INSERT INTO `{{ dataset }}.{{ training_table }}`
  (transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }})
SELECT f.transaction_id, f.{{ entity_key }}, f.{{ event_time }}, {{ feature_columns }}, f.{{ label }}
FROM `{{ dataset }}.{{ features_table }}` AS f
JOIN `{{ dataset }}.feature_scope` AS c ON c.card_pseudonym = f.card_pseudonym
WHERE f.event_time >= CAST(@event_from AS TIMESTAMP)
  AND UNIX_SECONDS(f.event_time) >= c.start_ts;

DELETE FROM `{{ dataset }}.feature_scope` WHERE TRUE;

COMMIT TRANSACTION;
