-- Who holds the transform lease (no row with a holder: nobody). Read before and after a claim.
SELECT holder_dag_id, holder_run_id, claimed_at
FROM `{{ dataset }}.transform_lease`
WHERE name = 'transform';
