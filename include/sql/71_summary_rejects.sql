-- Rejected rows by reason, for the run summary.
SELECT reason, COUNT(*) AS n
FROM `{{ dataset }}.rejected_rows`
GROUP BY reason
ORDER BY n DESC, reason
