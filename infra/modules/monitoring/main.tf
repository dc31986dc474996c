# Watching the model in production on gcp (docs/monitoring.md):
#
# * the prediction log: the function writes one structured log line per answer
#   (jsonPayload.log_type = "prediction_log"); a log sink routes them into a dataset of their own,
#   from which each fraud_monitoring run stages new rows (include/sql/88_prediction_log_sink.sql);
# * alerts: Airflow's notifier writes entries to the log "fraud-alerts" (label kind); a log-based
#   metric counts them by kind (for charts) and a log-based alert policy notifies the channel of
#   each entry;
# * dashboards: Looker Studio reads the reporting views (include/sql/87_reporting_views.sql); a
#   Cloud Monitoring dashboard charts the alerts by kind, the prediction function's Cloud Run
#   service and the Vertex AI endpoint (dashboard.json.tftpl says where each metric comes from).

locals {
  # The sink's writer identity, the one grant on the log dataset that writes. Cloud Logging uses one
  # writer identity for all sinks of a project by default, so another sink of it could write here too.
  members = {
    prediction_log_sink = google_logging_project_sink.prediction_log.writer_identity
  }
}

resource "google_bigquery_dataset" "logs" {
  project                         = var.project_id
  dataset_id                      = var.log_dataset_id
  location                        = var.location
  description                     = "Prediction-log entries routed by the log sink (one partitioned table per log)."
  delete_contents_on_destroy      = false
  default_partition_expiration_ms = var.log_retention_days * 24 * 60 * 60 * 1000

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_logging_project_sink" "prediction_log" {
  project     = var.project_id
  name        = "${var.prefix}-prediction-log"
  destination = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.logs.dataset_id}"
  # Cloud Run functions (2nd gen) ship stdout as run.googleapis.com/stdout of the service.
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${var.function_service_name}\"",
    "jsonPayload.log_type=\"prediction_log\"",
  ])
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true
  }
}

resource "google_bigquery_dataset_iam_member" "logs_prediction_log_sink" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.logs.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.members.prediction_log_sink
}

# Each fraud_monitoring run stages the routed entries into the curated dataset
# (include/sql/88_prediction_log_sink.sql, run as the Composer account): read, never write.
resource "google_bigquery_dataset_iam_member" "logs_orchestration" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.logs.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = var.members.orchestration
}

# --- alerts ---

resource "google_logging_metric" "alerts" {
  project     = var.project_id
  name        = "${var.prefix}-alerts"
  description = "Alerts raised by fraud-mlops (task and DAG failures, data quality, drift, canary rollbacks), by kind."
  filter      = "logName=\"projects/${var.project_id}/logs/fraud-alerts\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "task_failure | dag_failure | data_quality_failure | drift | canary_rollback"
    }
  }
  label_extractors = {
    kind = "EXTRACT(labels.kind)"
  }
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "fraud-mlops on-call"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

# Log-based alerting policies (a LogMatch condition): one notification per alert entry, one
# policy per kind. Google limits each log-based policy to one notification per 5 minutes and 20
# a day (https://cloud.google.com/logging/docs/alerting/log-based-incidents): with one policy for
# every kind, an hourly drift alert used up the day's 20 and silenced the rollbacks and
# data-quality failures after it, and a task failure and its DAG's failure seconds apart gave one
# notification. A threshold condition on the log-based metric above would notify once per kind
# and then stay quiet while that incident is open: a counter with no new points is not evaluated
# again (EVALUATION_MISSING_DATA_NO_OP), so the incident only closes at auto_close, and every
# alert of that kind until then lands on it unannounced. A threshold condition would also have
# to wait for the new metric to exist: created in the same apply, it is refused with a 404 for
# up to 10 minutes (hashicorp/terraform-provider-google#11102). The entries themselves, all of
# them, stay in the log and in the metric.
locals {
  # the kinds fraud_mlops/alerting/sinks.py raises (ALERT_KINDS), with what a person reads
  alert_kinds = {
    task_failure         = "a task failed"
    dag_failure          = "a DAG run failed"
    data_quality_failure = "data-quality checks failed"
    drift                = "drift detected"
    canary_rollback      = "a canary was rolled back"
  }
}

resource "google_monitoring_alert_policy" "alerts" {
  for_each     = local.alert_kinds
  project      = var.project_id
  display_name = "fraud-mlops: ${each.value}"
  combiner     = "OR"

  conditions {
    display_name = "fraud-mlops alert of kind ${each.key}"
    condition_matched_log {
      filter = "logName=\"projects/${var.project_id}/logs/fraud-alerts\" AND labels.kind=\"${each.key}\""
      label_extractors = {
        kind = "EXTRACT(labels.kind)"
      }
    }
  }

  alert_strategy {
    # required for a LogMatch condition; Google's least period is 5 minutes
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "1800s"
  }

  notification_channels = [google_monitoring_notification_channel.email.name]

  documentation {
    content   = "A fraud-mlops alert of kind `${each.key}` was raised: ${each.value}. Read the entry in the log `fraud-alerts`; docs/monitoring.md says what each kind means and what to do."
    mime_type = "text/markdown"
  }
}

# --- dashboard ---

locals {
  # What dashboard.json.tftpl names (tests/infra/test_monitoring_dashboard.py renders it with
  # templatefile and parses the result into the Dashboard proto).
  dashboard_vars = {
    alert_metric          = google_logging_metric.alerts.name
    alert_log_filter      = google_logging_metric.alerts.filter
    function_service_name = var.function_service_name
    endpoint_id           = var.endpoint_id
  }
}

resource "google_monitoring_dashboard" "fraud" {
  project        = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", local.dashboard_vars)
}
