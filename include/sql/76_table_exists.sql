-- Fails when `table` does not exist, and reads nothing when it does (no column, no row): the
-- reporting views over a published table wait for its first publish
-- (fraud_mlops/monitoring/reporting.py).
SELECT 1 FROM `{{ dataset }}.{{ table }}` LIMIT 0
