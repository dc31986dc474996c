-- Publish the checked candidates (write-audit-publish): every published table changes in one
-- transaction, or none does. Runs only after 50_quality_checks.sql passed on the candidates.
-- BigQuery allows DML, not DDL, in a multi-statement transaction: the published tables are
-- created empty once (outside it), then emptied and refilled inside it. DuckDB runs the same.
{%- for table in published_tables %}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ table }}` AS
SELECT * FROM `{{ candidate_dataset }}.{{ table }}` WHERE FALSE;
{%- endfor %}

BEGIN TRANSACTION;
{%- for table in published_tables %}

DELETE FROM `{{ dataset }}.{{ table }}` WHERE TRUE;
INSERT INTO `{{ dataset }}.{{ table }}`
SELECT * FROM `{{ candidate_dataset }}.{{ table }}`;
{%- endfor %}

COMMIT TRANSACTION;
