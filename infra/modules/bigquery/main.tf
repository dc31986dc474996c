# The warehouse dataset and every table of include/sql/00_setup.sql. Their schemas are the
# columns of its CREATE TABLE statements, rendered to JSON by `make infra-schemas`; partitioning,
# clustering and require_partition_filter are the statements' own (tests/infra compares both).
# The ingestion SQL maintains the derived tables incrementally; snapshots it creates itself.

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
  clustering          = each.value.clustering
  # BigQuery refuses a query on these that names no partitions (the ingestion SQL always does).
  require_partition_filter = each.value.require_partition_filter

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
      description              = "Landed rows exactly as they arrived (all STRING), traced to their file."
      partition_field          = "_loaded_at"
      clustering               = null
      require_partition_filter = false
    }
    ingestion_log = {
      description              = "One row per load attempt; a file's identity is its content hash."
      partition_field          = "logged_at"
      clustering               = null
      require_partition_filter = false
    }
    rejected_lines = {
      description              = "Unparseable lines of loaded files (file, line number, reason); the files' good rows loaded."
      partition_field          = "rejected_at"
      clustering               = null
      require_partition_filter = false
    }
    stg_transactions = {
      description              = "Typed, valid, deduplicated, pseudonymised transactions (maintained incrementally)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = true
    }
    rejected_rows = {
      description              = "Rows and lines that did not reach staging, with the reason (never a full card number)."
      partition_field          = "_loaded_at"
      clustering               = null
      require_partition_filter = false
    }
    card_features = {
      description              = "Every transaction with its point-in-time card features (maintained incrementally)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = true
    }
    training_examples = {
      description              = "Features + label + event time: what training snapshots clone (read whole)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
    }
    latest_card_features = {
      description              = "Each card's latest feature row: the feature view's source (maintained with MERGE)."
      partition_field          = null
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
    }
    card_merchants = {
      description              = "Per card and merchant: first second used and its rows (state of the history features)."
      partition_field          = null
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
    }
    feature_scope = {
      description              = "Cards whose features the next transform step recomputes, from which second."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
    }
    transform_log = {
      description              = "Files whose rows staging has processed (the increment is every loaded file not in here)."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
    }
    snapshot_lineage = {
      description              = "Training snapshot <-> source files <-> row counts <-> DAG run."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
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
