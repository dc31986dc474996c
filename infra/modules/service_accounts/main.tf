# One service account per role, and the grants that can only be made at project level
# (BigQuery jobs and read sessions, Vertex AI jobs, Composer workers, logging). Everything
# that can be narrower is granted on its resource in the module that owns it.

locals {
  accounts = {
    orchestration = "Airflow on Cloud Composer: ingestion and orchestration DAGs"
    pipeline      = "Vertex AI pipeline runs: dataset, training, registration, deployment"
    inference     = "Runtime identity of the prediction function"
    caller        = "Client allowed to invoke the prediction function"
    builder       = "Cloud Build identity that builds the prediction function's image"
  }

  members = { for key, sa in google_service_account.this : key => "serviceAccount:${sa.email}" }
}

resource "google_service_account" "this" {
  for_each = local.accounts

  project      = var.project_id
  account_id   = "${var.prefix}-${each.key}"
  display_name = "${var.prefix} ${each.key}"
  description  = each.value
}

# --- orchestration (Composer's environment service account) ---

resource "google_project_iam_member" "orchestration_composer_worker" {
  project = var.project_id
  role    = "roles/composer.worker"
  member  = local.members.orchestration
}

resource "google_project_iam_member" "orchestration_bigquery_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.members.orchestration
}

resource "google_project_iam_member" "orchestration_aiplatform_user" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = local.members.orchestration
}

# Composer's Secret Manager backend (modules/composer) looks up every connection a task uses as
# <connections_prefix>-<conn id>, before the environment's own. The condition keeps the grant to
# those secrets, including ones an operator adds later (a per-secret grant could not). Without
# it every lookup was refused, logged as an error in every task, and no added connection read.
resource "google_project_iam_member" "orchestration_connection_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = local.members.orchestration

  condition {
    title       = "airflow-connections-only"
    description = "Airflow connections for Composer's Secret Manager backend, nothing else"
    expression  = "resource.name.startsWith(\"projects/${var.project_number}/secrets/${var.connections_prefix}-\")"
  }
}

# Submitting a pipeline run "as" the pipeline service account needs actAs on that account only.
resource "google_service_account_iam_member" "orchestration_acts_as_pipeline" {
  service_account_id = google_service_account.this["pipeline"].name
  role               = "roles/iam.serviceAccountUser"
  member             = local.members.orchestration
}

# Composer 3 requires its service agent to hold this role on the environment's service account.
resource "google_service_account_iam_member" "composer_agent_on_orchestration" {
  service_account_id = google_service_account.this["orchestration"].name
  role               = "roles/composer.ServiceAgentV2Ext"
  member             = var.agent_members.composer_agent
}

# --- pipeline runner ---

resource "google_project_iam_member" "pipeline_aiplatform_user" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = local.members.pipeline
}

resource "google_project_iam_member" "pipeline_bigquery_read_session_user" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = local.members.pipeline
}

resource "google_project_iam_member" "pipeline_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = local.members.pipeline
}

# --- builder ---

resource "google_project_iam_member" "builder_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = local.members.builder
}
