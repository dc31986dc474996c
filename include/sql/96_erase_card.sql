-- Right to erasure: remove one card (@card_number, normalised like staging does) from the raw
-- rows, the rejected rows of its transactions, every published table keyed by its pseudonym,
-- and what the models answered about it (the prediction log, batch scores), in one transaction;
-- it records the erasure, so the log's next append does not log the card's earlier answers again.
-- The candidates, the prediction log's staging rows and batch scoring's output (every card's
-- score, kept until the next scoring run) are dropped: every run rebuilds them (no ingestion run
-- is in flight: the erase DAG holds the transform lease, docs/least_privilege.md). The card is deleted from batch scoring's input (every card's
-- features, likewise kept), where a scoring run in flight counts the cards it was given (82);
-- its batch prediction may have read the card before, and 80 writes no score for it. A run
-- whose output this drops fails.
-- Training snapshots are immutable: they keep pseudonymised rows until they expire
-- (docs/least_privilege.md). Landed files are rewritten by the erase DAG's next task.
{%- from 'macros/pseudonym.sql' import card_pseudonym with context %}
{%- from 'macros/training_day_counts.sql' import recount_all_days with context %}
{%- from 'macros/card_predictions.sql' import batch_input_ddl, card_predictions_table with context %}
{%- from 'macros/monitoring_tables.sql' import prediction_log_table with context %}
{%- from 'macros/card_erasures.sql' import card_erasures_table with context %}
{%- for table in published_tables + ('feature_scope',) %}
DROP TABLE IF EXISTS `{{ candidate_dataset }}.{{ table }}`;
{%- endfor %}
DROP TABLE IF EXISTS `{{ dataset }}.prediction_log_staging`;
DROP TABLE IF EXISTS `{{ dataset }}.{{ batch_output_table }}`;

-- (created when missing, outside the transaction, which takes no DDL: nothing scored, logged or
-- erased yet)
{{ prediction_log_table() }};

{{ card_predictions_table() }};

{{ batch_input_ddl() }};

{{ card_erasures_table() }};

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.rejected_rows`
WHERE transaction_id IN (
  SELECT transaction_id FROM `{{ raw_dataset }}.raw_transactions`
  WHERE REGEXP_REPLACE(IFNULL(card_number, ''), r'[ -]', '') = REGEXP_REPLACE(@card_number, r'[ -]', '')
);

DELETE FROM `{{ raw_dataset }}.raw_transactions`
WHERE REGEXP_REPLACE(IFNULL(card_number, ''), r'[ -]', '') = REGEXP_REPLACE(@card_number, r'[ -]', '');
{%- for table in published_tables if table not in ('rejected_rows', 'transform_log') %}

DELETE FROM `{{ dataset }}.{{ table }}`
WHERE {{ entity_key }} = {{ card_pseudonym("REGEXP_REPLACE(@card_number, r'[ -]', '')") }}
{%- if table != 'card_merchants' %}
  AND {{ event_time }} >= TIMESTAMP '0001-01-01 00:00:00'
{%- endif %};
{%- endfor %}

{%- for table in ('prediction_log', 'card_predictions', batch_input_table) %}

DELETE FROM `{{ dataset }}.{{ table }}`
WHERE {{ entity_key }} = {{ card_pseudonym("REGEXP_REPLACE(@card_number, r'[ -]', '')") }};
{%- endfor %}

-- The log's sources (the local spool, the gcp log sink's table) keep the card's earlier answers
-- for log_retention_days: the append must not log them again (macros/card_erasures.sql).
INSERT INTO `{{ dataset }}.card_erasures` ({{ entity_key }}, erased_at)
SELECT {{ card_pseudonym("REGEXP_REPLACE(@card_number, r'[ -]', '')") }}, CURRENT_TIMESTAMP();

-- The training table's day counts, all counted again (the card's rows may lie on any day).
{{ recount_all_days() }}

COMMIT TRANSACTION;
