output "topic" {
  description = "Topic id of the landing notifications."
  value       = google_pubsub_topic.landing_notifications.id
}

output "subscription" {
  description = "Subscription name Airflow pulls from."
  value       = google_pubsub_subscription.airflow.name
}
