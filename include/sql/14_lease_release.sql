-- Give the transform lease back, if this run (@dag_id, @run_id) holds it (the teardown task).
UPDATE `{{ dataset }}.transform_lease`
SET holder_dag_id = NULL, holder_run_id = NULL, claimed_at = NULL
WHERE name = 'transform' AND holder_dag_id = @dag_id AND holder_run_id = @run_id;
