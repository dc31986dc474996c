output "bucket_names" {
  description = "Bucket names by purpose: landing, quarantine, pipeline_root, models, composer, function_source."
  value       = { for key, bucket in google_storage_bucket.this : key => bucket.name }
}

output "function_source_bucket" {
  description = "The function source bucket, known once the builder may read it (the function's build waits for that)."
  value       = google_storage_bucket.this["function_source"].name
  depends_on  = [google_storage_bucket_iam_member.function_source_builder]
}
