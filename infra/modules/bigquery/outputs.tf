output "dataset_id" {
  description = "The warehouse dataset id."
  value       = google_bigquery_dataset.fraud.dataset_id
}

output "table_ids" {
  description = "Tables declared here (the ingestion SQL creates the derived ones)."
  value       = sort(keys(google_bigquery_table.managed))
}
