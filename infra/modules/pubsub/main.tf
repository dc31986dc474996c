# Event-driven ingestion: GCS publishes OBJECT_FINALIZE for new files under the landing prefix
# to a topic; Airflow's AssetWatcher pulls them from its own subscription. Names match
# fraud_mlops.settings (LANDING_TOPIC, LANDING_SUBSCRIPTION) with the default prefix.

resource "google_pubsub_topic" "landing_notifications" {
  project                    = var.project_id
  name                       = "${var.prefix}-landing-notifications"
  message_retention_duration = "86400s"
  kms_key_name               = var.kms_key_name
}

# GCS publishes as its service agent: it may publish to this topic and nothing else.
resource "google_pubsub_topic_iam_member" "landing_notifications_gcs_agent" {
  project = var.project_id
  topic   = google_pubsub_topic.landing_notifications.name
  role    = "roles/pubsub.publisher"
  member  = var.members.gcs_agent
}

resource "google_storage_notification" "landing_finalize" {
  bucket             = var.landing_bucket
  topic              = google_pubsub_topic.landing_notifications.id
  payload_format     = "JSON_API_V1"
  event_types        = ["OBJECT_FINALIZE"]
  object_name_prefix = var.landing_prefix
  custom_attributes = {
    source = "fraud-landing"
  }

  depends_on = [google_pubsub_topic_iam_member.landing_notifications_gcs_agent]
}

resource "google_pubsub_subscription" "airflow" {
  project                    = var.project_id
  name                       = "${var.prefix}-landing-airflow"
  topic                      = google_pubsub_topic.landing_notifications.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  # Never expire: the subscription must outlive quiet weeks without files.
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# The AssetWatcher's trigger pulls and acknowledges: subscriber on this subscription only.
resource "google_pubsub_subscription_iam_member" "airflow_orchestration" {
  project      = var.project_id
  subscription = google_pubsub_subscription.airflow.name
  role         = "roles/pubsub.subscriber"
  member       = var.members.orchestration
}
