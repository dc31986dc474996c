# The warehouse datasets and the tables the ingestion flow appends to. Three datasets, so IAM
# can keep card numbers away from every consumer: `raw` (card numbers in clear, rows expire
# after raw_retention_days; only the orchestration/ingestion identity has any grant on it),
# `candidates` (a run's unchecked outputs, before 50_quality_checks.sql passes; same) and
# `fraud`, the curated dataset everything else reads (pseudonymised only). Their schemas are the
# columns of the CREATE TABLE statements in include/sql/00_setup.sql, rendered to JSON by
# `make infra-schemas` (tests/infra fails when the JSON differs from the SQL).
# Derived tables and views (staging, card_features, training_examples, latest_card_features,
# snapshots) are (re)created by the ingestion SQL itself.

resource "google_bigquery_dataset" "raw" {
  project                         = var.project_id
  dataset_id                      = var.raw_dataset_id
  location                        = var.location
  description                     = "Landed card transactions as they arrived, card numbers in clear. Ingestion only; partitions expire."
  delete_contents_on_destroy      = false
  default_partition_expiration_ms = var.raw_retention_days * 86400000

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_dataset" "candidates" {
  project     = var.project_id
  dataset_id  = var.candidate_dataset_id
  location    = var.location
  description = "A run's outputs before its data-quality checks pass (write-audit-publish). Ingestion only."
  # Rebuilt every run; leftovers of a stopped pipeline go after a week.
  default_table_expiration_ms = 7 * 86400000
  delete_contents_on_destroy  = true

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_dataset" "fraud" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "Card-fraud warehouse (pseudonymised): checked staging, features, training examples, snapshots, lineage, predictions."
  delete_contents_on_destroy = false

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "managed" {
  for_each = local.tables

  project             = var.project_id
  dataset_id          = each.value.raw ? google_bigquery_dataset.raw.dataset_id : google_bigquery_dataset.fraud.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${path.module}/schemas/${each.key}.json")
  deletion_protection = true

  dynamic "time_partitioning" {
    for_each = each.value.partition_field == null ? [] : [each.value.partition_field]
    content {
      type  = "DAY"
      field = time_partitioning.value
      # raw rows (card numbers) are deleted with their partition after the retention
      expiration_ms = each.value.raw ? var.raw_retention_days * 86400000 : null
    }
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }
}

locals {
  tables = {
    raw_transactions = {
      description     = "Landed rows exactly as they arrived (all STRING), traced to their file."
      partition_field = "_loaded_at"
      raw             = true
    }
    ingestion_log = {
      description     = "One row per load attempt; a file's identity is its content hash."
      partition_field = "logged_at"
      raw             = false
    }
    snapshot_lineage = {
      description     = "Training snapshot <-> source files <-> row counts <-> DAG run."
      partition_field = null
      raw             = false
    }
  }
}

# --- grants on the datasets ---

# Only the identity that runs ingestion may touch raw card numbers and unchecked candidates.
resource "google_bigquery_dataset_iam_member" "raw_orchestration" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.raw.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = var.members.orchestration
}

resource "google_bigquery_dataset_iam_member" "candidates_orchestration" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.candidates.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = var.members.orchestration
}

resource "google_bigquery_dataset_iam_member" "fraud_orchestration" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.fraud.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = var.members.orchestration
}

resource "google_bigquery_dataset_iam_member" "fraud_pipeline" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.fraud.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = var.members.pipeline
}

# The Vertex AI service agent reads the latest-features view during feature-view syncs (a view
# is read with its base tables' permissions unless it is authorized, hence the dataset scope),
# and runs batch scoring's batch prediction jobs, which read batch_prediction_input and create
# batch_prediction_output (fraud_mlops/registry/batch_prediction.py): data editor, not viewer.
resource "google_bigquery_dataset_iam_member" "fraud_feature_sync" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.fraud.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = var.members.feature_sync
}
