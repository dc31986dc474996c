output "pseudonym_key_secret_id" {
  description = "Secret holding the raw key (the function's MLOPS_PSEUDONYM_KEY)."
  value       = google_secret_manager_secret.pseudonym_key.secret_id
}

output "pseudonym_connection_secret_id" {
  description = "Secret holding the Airflow connection with the key as password."
  value       = google_secret_manager_secret.pseudonym_connection.secret_id
}

output "connections_prefix" {
  description = "Prefix Composer's secrets backend looks connections up under."
  value       = local.connections_prefix
}
