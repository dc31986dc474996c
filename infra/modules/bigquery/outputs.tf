output "dataset_id" {
  description = "The warehouse dataset id."
  value       = google_bigquery_dataset.fraud.dataset_id
}

output "raw_dataset_id" {
  description = "The raw dataset id (card numbers)."
  value       = google_bigquery_dataset.raw.dataset_id
}

output "candidate_dataset_id" {
  description = "The candidates dataset id (unchecked outputs)."
  value       = google_bigquery_dataset.candidates.dataset_id
}

output "snapshot_dataset_id" {
  description = "The training snapshots' dataset id (what the training pipeline reads)."
  value       = google_bigquery_dataset.snapshots.dataset_id
}

output "table_ids" {
  description = "Tables declared here (the ingestion SQL creates the derived ones)."
  value       = sort(keys(google_bigquery_table.managed))
}
