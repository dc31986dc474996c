# The warehouse datasets and every table of include/sql/00_setup.sql. Four datasets, so IAM
# can keep card numbers away from every consumer: `raw` (card numbers in clear, rows expire
# after raw_retention_days; only the orchestration/ingestion identity has any grant on it),
# `candidates` (a run's unchecked increment, before 50_quality_checks.sql passes; same),
# `fraud`, the curated dataset everything else reads (pseudonymised only), and `snapshots`, the
# training snapshots (60_snapshot.sql), the only data the training pipeline may read. Table schemas are the
# columns of 00_setup.sql's CREATE TABLE statements, rendered to JSON by `make infra-schemas`;
# partitioning, clustering and require_partition_filter are the statements' own (tests/infra
# compares both). The ingestion SQL maintains the derived tables incrementally (55_publish.sql
# replaces the touched rows); candidates and snapshots it creates itself.

resource "google_bigquery_dataset" "raw" {
  project                         = var.project_id
  dataset_id                      = var.raw_dataset_id
  location                        = var.location
  description                     = "Landed card transactions as they arrived, card numbers in clear. Ingestion only; partitions expire."
  delete_contents_on_destroy      = false
  default_partition_expiration_ms = var.raw_retention_days * 86400000
  # Expired and erased rows stay readable through time travel for this long (BigQuery's least;
  # its default is 7 days), then only in its 7-day fail-safe, which no query reads.
  max_time_travel_hours = 48

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
  description                = "Card-fraud warehouse (pseudonymised): checked staging, features, training examples, lineage, predictions."
  delete_contents_on_destroy = false

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

# The training snapshots apart from the rest of the warehouse: the training pipeline reads
# them and nothing else (before, its dataViewer on `fraud` reached staging, features and
# predictions). Each snapshot expires on its own (expiration_timestamp: 60_snapshot.sql,
# 91_keep_model_snapshot.sql).
resource "google_bigquery_dataset" "snapshots" {
  project                    = var.project_id
  dataset_id                 = var.snapshot_dataset_id
  location                   = var.location
  description                = "Immutable training snapshots of fraud.training_examples (pseudonymised), each traced to its files by fraud.snapshot_lineage."
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
  clustering          = each.value.clustering
  # BigQuery refuses a query on these that names no partitions (the ingestion SQL always does).
  require_partition_filter = each.value.require_partition_filter

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
      description              = "Landed rows exactly as they arrived (all STRING), traced to their file."
      partition_field          = "_loaded_at"
      clustering               = null
      require_partition_filter = false
      raw                      = true
    }
    ingestion_log = {
      description              = "One row per load attempt; a file's identity is its content hash."
      partition_field          = "logged_at"
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    rejected_lines = {
      description              = "Unparseable lines of loaded files (file, line number, reason); the files' good rows loaded."
      partition_field          = "rejected_at"
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    stg_transactions = {
      description              = "Typed, valid, deduplicated, pseudonymised transactions (maintained incrementally)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = true
      raw                      = false
    }
    rejected_rows = {
      description              = "Rows and lines that did not reach staging, with the reason (never a full card number)."
      partition_field          = "_loaded_at"
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    card_features = {
      description              = "Every transaction with its point-in-time card features (maintained incrementally)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = true
      raw                      = false
    }
    training_examples = {
      description              = "Features + label + event time: what training snapshots clone (read whole)."
      partition_field          = "event_time"
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
      raw                      = false
    }
    training_day_counts = {
      description              = "training_examples' rows, label sum and rows without card history per event date: what the table-wide quality checks read."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    latest_card_features = {
      description              = "Each card's latest feature row and serving state: the feature view's source (touched cards merged at publish)."
      partition_field          = null
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
      raw                      = false
    }
    card_merchants = {
      description              = "Per card and merchant: first second used and its rows (state of the history features)."
      partition_field          = null
      clustering               = ["card_pseudonym"]
      require_partition_filter = false
      raw                      = false
    }
    transform_log = {
      description              = "Files whose rows staging has processed (the increment is every loaded file not in here)."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    transform_lease = {
      description              = "Which ingestion DAG run may build candidates and publish (one row; claimed and given back by the runs)."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    append_lock = {
      description              = "One row the raw appends update in their transaction, so two overlapping tries of one append conflict."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
      raw                      = false
    }
    snapshot_lineage = {
      description              = "Training snapshot <-> source files <-> row counts <-> DAG run."
      partition_field          = null
      clustering               = null
      require_partition_filter = false
      raw                      = false
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

# Taking a snapshot into the snapshot dataset: the source's data through dataEditor on `fraud`
# (bigquery.tables.createSnapshot, getData), the new table through dataEditor on `snapshots`
# (bigquery.tables.create, updateData); and, because each is created with an expiry
# (60_snapshot.sql) that 91 moves on while a model serves, "to create a snapshot with an
# expiration time you must have the bigquery.tables.deleteSnapshot permission"
# (https://cloud.google.com/bigquery/docs/table-snapshots-create), which only dataOwner and admin
# hold among the predefined roles; dataOwner would also let the account change the dataset's
# access. A custom role with that one permission. Google's page lists it with the table
# snapshotted (in `fraud`), and moving a snapshot's expiry acts on the snapshot (in
# `snapshots`): granted on both. On `fraud` it reaches nothing else: no snapshot lives there.
resource "google_project_iam_custom_role" "snapshot_expiry" {
  project     = var.project_id
  role_id     = "fraudSnapshotExpiry"
  title       = "fraud-mlops: expiring table snapshots"
  description = "Create BigQuery table snapshots that expire (and move their expiry): bigquery.tables.deleteSnapshot only."
  permissions = ["bigquery.tables.deleteSnapshot"]
}

resource "google_bigquery_dataset_iam_member" "snapshots_orchestration" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.snapshots.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = var.members.orchestration
}

resource "google_bigquery_dataset_iam_member" "fraud_orchestration_snapshot_expiry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.fraud.dataset_id
  role       = google_project_iam_custom_role.snapshot_expiry.id
  member     = var.members.orchestration
}

resource "google_bigquery_dataset_iam_member" "snapshots_orchestration_snapshot_expiry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.snapshots.dataset_id
  role       = google_project_iam_custom_role.snapshot_expiry.id
  member     = var.members.orchestration
}

# The training pipeline reads one snapshot (and the champion's) through the Storage Read API:
# table data here, read sessions at project level (service_accounts: readSessionUser).
resource "google_bigquery_dataset_iam_member" "snapshots_pipeline" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.snapshots.dataset_id
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
