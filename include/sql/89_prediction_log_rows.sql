-- Rows in the prediction log, for the monitoring run's summary after 83 appended. COUNT(*) reads
-- no column.
SELECT COUNT(*) AS logged FROM `{{ dataset }}.prediction_log`
