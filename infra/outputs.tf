output "composer_environment" {
  description = "Composer environment name (scripts/deploy_composer.py --environment)."
  value       = module.composer.name
}

output "region" {
  description = "Region of the stack (make deploy-composer's GCP_REGION)."
  value       = var.region
}

output "composer_bucket" {
  description = "Composer bucket (scripts/deploy_composer.py --bucket)."
  value       = module.storage.bucket_names["composer"]
}

output "airflow_uri" {
  description = "Airflow UI of the Composer environment."
  value       = module.composer.airflow_uri
}

output "buckets" {
  description = "Bucket names by purpose."
  value       = module.storage.bucket_names
}

output "dataset" {
  description = "BigQuery dataset of the warehouse."
  value       = module.bigquery.dataset_id
}

output "landing_topic" {
  description = "Topic of the landing bucket's OBJECT_FINALIZE notifications."
  value       = module.pubsub.topic
}

output "landing_subscription" {
  description = "Subscription the event-driven ingestion DAG pulls from."
  value       = module.pubsub.subscription
}

output "service_accounts" {
  description = "Service account emails by role."
  value       = module.service_accounts.emails
}

output "pseudonym_kms_key_uri" {
  description = "KEK of the card pseudonym keyset: wrap the keyset with it (docs/deploy.md)."
  value       = module.pseudonym_kms.key_uri
}

output "vertex" {
  description = "Vertex AI endpoint, online store and feature view."
  value = {
    endpoint     = module.vertex.endpoint_name
    online_store = module.vertex.online_store_name
    feature_view = module.vertex.feature_view_name
  }
}

output "prediction_function_uri" {
  description = "URI of the private prediction function."
  value       = module.prediction_function.uri
}
