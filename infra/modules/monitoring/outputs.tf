output "log_dataset_id" {
  description = "Dataset holding the routed prediction-log entries."
  value       = google_bigquery_dataset.logs.dataset_id
}

output "sink_writer_identity" {
  description = "The prediction-log sink's writer identity (granted dataEditor on the log dataset only; by default shared by the project's sinks)."
  value       = google_logging_project_sink.prediction_log.writer_identity
}

output "alert_policies" {
  description = "Alert policies notifying on fraud-mlops alerts, by kind (one per kind: Google's notification limits are per policy)."
  value       = { for kind, policy in google_monitoring_alert_policy.alerts : kind => policy.name }
}

output "dashboard_name" {
  description = "Resource name of the Cloud Monitoring dashboard, projects/<number>/dashboards/<id>."
  value       = google_monitoring_dashboard.fraud.id
}

output "dashboard_url" {
  description = "Console URL of the Cloud Monitoring dashboard (its id is the last part of projects/<number>/dashboards/<id>)."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(reverse(split("/", google_monitoring_dashboard.fraud.id)), 0)}?project=${var.project_id}"
}
