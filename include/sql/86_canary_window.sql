-- Canary evidence from the prediction log, per model version since the canary first answered:
-- one row per version (requests, errors, p99 latency, fraud alerts, first/last answer), and,
-- on each row, the canary's shadow pairs against the champion's answers to the same requests,
-- and the model calls since the canary's deployment (deployed_at) with those among them that
-- failed naming no model (Vertex's predict does not say which deployed model failed: a failing
-- canary shows only there), and the same for the day before (baseline_from): none counted
-- when the deployment time is unknown; and the model calls since the canary's first row (an
-- answer or an error naming it), or, for a canary with none, since silent_from (its deployment
-- plus a deploy's time: a deployment's calls before its traffic began are all the champion's),
-- what its traffic share owed it answers of (fraud_mlops/monitoring/canary.py).
-- champion/canary are model versions rendered by the monitoring task (registry aliases); since
-- is an hour before the canary's current deployment on the endpoint (a redeployed version's
-- evidence starts again), rendered as a constant so BigQuery reads only the days since (the
-- earliest instant when the endpoint does not say: fraud_mlops/monitoring/canary_apply.py).
WITH online AS (
  SELECT
    *,
    PERCENTILE_CONT(latency_ms, 0.99) OVER (PARTITION BY model_version) AS p99_latency_ms
  FROM `{{ dataset }}.prediction_log`
  WHERE source = 'online'
    AND model_version IN ('{{ champion }}', '{{ canary }}')
    AND logged_at >= TIMESTAMP('{{ since }}')
    AND logged_at >= COALESCE(
      (
        SELECT MIN(logged_at) FROM `{{ dataset }}.prediction_log`
        WHERE model_version = '{{ canary }}' AND source IN ('online', 'shadow')
          AND logged_at >= TIMESTAMP('{{ since }}')
      ),
      -- a canary that never answered: the champion's answers since its deployment, so the
      -- endpoint's counts below still reach the policy
      TIMESTAMP('{{ since }}')
    )
),
per_version AS (
  SELECT
    model_version,
    COUNT(*) AS requests,
    COUNTIF(status >= 500) AS errors,
    MAX(p99_latency_ms) AS p99_latency_ms,
    COUNTIF(decision = 'fraud') AS alerts,
    MIN(logged_at) AS first_at,
    MAX(logged_at) AS last_at
  FROM online
  GROUP BY model_version
),
pairs AS (
  SELECT
    COUNT(*) AS shadow_pairs,
    AVG(ABS(shadow.score - champion.score)) AS mean_abs_diff,
    AVG(IF(shadow.decision = champion.decision, 0.0, 1.0)) AS disagreement
  FROM `{{ dataset }}.prediction_log` AS shadow
  JOIN online AS champion
    ON champion.request_id = shadow.request_id AND champion.model_version = '{{ champion }}'
  WHERE shadow.source = 'shadow' AND shadow.model_version = '{{ canary }}'
    AND shadow.logged_at >= TIMESTAMP('{{ since }}')
),
canary_first AS (
  SELECT MIN(logged_at) AS first_at FROM `{{ dataset }}.prediction_log`
  WHERE model_version = '{{ canary }}' AND source = 'online' AND logged_at >= TIMESTAMP('{{ deployed_at }}')
),
deployment AS (
  -- the model calls since the canary's deployment (answers, and failures naming a model or none)
  -- and, for a baseline, the day before it; failures naming no model are counted apart
  SELECT
    COUNTIF(logged_at >= TIMESTAMP('{{ deployed_at }}')) AS endpoint_requests,
    COUNTIF(
      logged_at >= TIMESTAMP('{{ deployed_at }}')
      AND logged_at >= COALESCE((SELECT first_at FROM canary_first), TIMESTAMP('{{ silent_from }}'))
    ) AS canary_calls,
    COUNTIF(logged_at >= TIMESTAMP('{{ deployed_at }}') AND model_version IS NULL) AS unattributed_failures,
    COUNTIF(logged_at < TIMESTAMP('{{ deployed_at }}')) AS before_requests,
    COUNTIF(logged_at < TIMESTAMP('{{ deployed_at }}') AND model_version IS NULL) AS before_failures
  FROM `{{ dataset }}.prediction_log`
  WHERE source = 'online'
    AND logged_at >= TIMESTAMP('{{ baseline_from }}')
    AND (model_version IS NOT NULL OR error = 'model_error')
    AND {{ deployment_known }}
)
SELECT
  per_version.model_version,
  per_version.requests,
  per_version.errors,
  per_version.p99_latency_ms,
  per_version.alerts,
  per_version.first_at,
  per_version.last_at,
  pairs.shadow_pairs,
  pairs.mean_abs_diff,
  pairs.disagreement,
  deployment.endpoint_requests,
  deployment.unattributed_failures,
  deployment.before_requests,
  deployment.before_failures,
  deployment.canary_calls
-- from the endpoint's counts: a row (model_version NULL) even when no version answered
FROM deployment
CROSS JOIN pairs
LEFT JOIN per_version ON TRUE
ORDER BY per_version.model_version
