-- Claim the transform lease for this run (@dag_id, @run_id) if nobody holds it, this run does
-- already (a retry or rerun), or the run that does (@stale_dag_id, @stale_run_id, '' for none)
-- is no longer queued or running, so its teardown never gave it back. One UPDATE: BigQuery runs
-- mutating DML on a table one after another (a concurrent one conflicts and is retried against
-- the committed row), DuckDB has one writer, so of two runs claiming at once one matches and
-- the other finds the row held. 12 then tells each which it was.
UPDATE `{{ dataset }}.transform_lease`
SET holder_dag_id = @dag_id, holder_run_id = @run_id, claimed_at = CURRENT_TIMESTAMP()
WHERE name = 'transform'
  AND (
    holder_run_id IS NULL
    OR (holder_dag_id = @dag_id AND holder_run_id = @run_id)
    OR (holder_dag_id = @stale_dag_id AND holder_run_id = @stale_run_id)
  );
