-- Claim the transform lease for this run (@dag_id, @run_id) if nobody holds it, this run does
-- already (a retry or rerun), or the run that does (@stale_dag_id, @stale_run_id, '' for none)
-- is no longer queued or running, so its teardown never gave it back. One UPDATE: BigQuery
-- applies DML under snapshot isolation, and an UPDATE that conflicts with one committed since
-- its snapshot is run again on the committed row (or fails, and the claim is poked again);
-- DuckDB has one writer. So of two runs claiming at once one matches and the other finds the
-- row held. 12 then tells each which it was.
UPDATE `{{ dataset }}.transform_lease`
SET holder_dag_id = @dag_id, holder_run_id = @run_id, claimed_at = CURRENT_TIMESTAMP()
WHERE name = 'transform'
  AND (
    holder_run_id IS NULL
    OR (holder_dag_id = @dag_id AND holder_run_id = @run_id)
    OR (holder_dag_id = @stale_dag_id AND holder_run_id = @stale_run_id)
  );
