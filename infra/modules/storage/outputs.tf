output "bucket_names" {
  description = "Bucket names by purpose: landing, quarantine, lake, pipeline_root, models, composer, function_source."
  value       = { for key, bucket in google_storage_bucket.this : key => bucket.name }
}
