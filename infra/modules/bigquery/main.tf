# The warehouse dataset and the tables the ingestion flow appends to. Their schemas are the
# columns of the CREATE TABLE statements in include/sql/00_setup.sql, rendered to JSON by
# `make infra-schemas` (tests/infra fails when the JSON differs from the SQL).
# Derived tables and views (staging, card_features, training_examples, latest_card_features,
# snapshots) are (re)created by the ingestion SQL itself.

resource "google_bigquery_dataset" "fraud" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "Card-fraud warehouse: raw and staged transactions, features, training snapshots, lineage."
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
  dataset_id          = google_bigquery_dataset.fraud.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${path.module}/schemas/${each.key}.json")
  deletion_protection = true

  dynamic "time_partitioning" {
    for_each = each.value.partition_field == null ? [] : [each.value.partition_field]
    content {
      type  = "DAY"
      field = time_partitioning.value
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
    }
    ingestion_log = {
      description     = "One row per load attempt; a file's identity is its content hash."
      partition_field = "logged_at"
    }
    rejected_lines = {
      description     = "Unparseable lines of loaded files (file, line number, reason); the files' good rows loaded."
      partition_field = "rejected_at"
    }
    snapshot_lineage = {
      description     = "Training snapshot <-> source files <-> row counts <-> DAG run."
      partition_field = null
    }
  }
}

# --- grants on the dataset ---

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

# Feature-view syncs read the latest-features view as the Vertex AI service agent. A view is
# read with its base tables' permissions unless it is authorized, hence the dataset scope.
resource "google_bigquery_dataset_iam_member" "fraud_feature_sync" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.fraud.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = var.members.feature_sync
}
