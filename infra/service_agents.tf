# Google-managed service agents that need grants on our resources. google_project_service_identity
# makes sure an agent exists before a grant names it (agents are otherwise created lazily).

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service_identity" "agents" {
  provider = google-beta
  for_each = toset([
    "aiplatform.googleapis.com",
    "composer.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
  ])

  project = var.project_id
  service = each.value

  depends_on = [module.apis]
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [module.apis]
}

data "google_bigquery_default_service_account" "bigquery" {
  project = var.project_id

  depends_on = [module.apis]
}

locals {
  agent_members = {
    # The Vertex AI service agent runs feature-view syncs: it is the "feature sync" identity.
    feature_sync        = "serviceAccount:${google_project_service_identity.agents["aiplatform.googleapis.com"].email}"
    composer_agent      = "serviceAccount:${google_project_service_identity.agents["composer.googleapis.com"].email}"
    pubsub_agent        = "serviceAccount:${google_project_service_identity.agents["pubsub.googleapis.com"].email}"
    secretmanager_agent = "serviceAccount:${google_project_service_identity.agents["secretmanager.googleapis.com"].email}"
    gcs_agent           = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    bigquery_agent      = "serviceAccount:${data.google_bigquery_default_service_account.bigquery.email}"
  }
}
