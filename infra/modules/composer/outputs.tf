output "name" {
  description = "Environment name."
  value       = google_composer_environment.this.name
}

output "airflow_uri" {
  description = "Airflow UI."
  value       = google_composer_environment.this.config[0].airflow_uri
}

output "dag_gcs_prefix" {
  description = "gs://<bucket>/dags: where the deploy script syncs dags/."
  value       = google_composer_environment.this.config[0].dag_gcs_prefix
}
