output "log_dataset_id" {
  description = "Dataset holding the routed prediction-log entries."
  value       = google_bigquery_dataset.logs.dataset_id
}

output "sink_writer_identity" {
  description = "The prediction-log sink's writer identity (granted dataEditor on the log dataset only)."
  value       = google_logging_project_sink.prediction_log.writer_identity
}

output "alert_policy" {
  description = "Alert policy notifying on every fraud-mlops alert."
  value       = google_monitoring_alert_policy.alerts.name
}
