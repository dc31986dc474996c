output "endpoint_id" {
  description = "Numeric id of the endpoint (the prediction function's MLOPS_ENDPOINT_ID)."
  value       = google_vertex_ai_endpoint.fraud.name
}

output "endpoint_name" {
  description = "Full resource name of the endpoint."
  value       = google_vertex_ai_endpoint.fraud.id
}

output "online_store_name" {
  description = "Feature Online Store id."
  value       = google_vertex_ai_feature_online_store.fraud.name
}

output "feature_view_name" {
  description = "Feature View id (null until create_feature_view = true)."
  value       = var.create_feature_view ? google_vertex_ai_feature_online_store_featureview.card_features[0].name : null
}
