# The buckets, each with uniform access, public access prevention and lifecycle rules, and the
# grants scoped to one bucket each.

locals {
  abort_uploads = { action = "AbortIncompleteMultipartUpload", storage_class = null, age = 1, prefixes = [] }
  # In a versioned bucket an overwrite or delete leaves the old version behind, noncurrent, with
  # no end: kept 30 days to restore from, then deleted.
  noncurrent_versions = { action = "Delete", storage_class = null, age = null, days_since_noncurrent_time = 30, prefixes = [] }

  buckets = {
    # New transaction files (under the landing prefix) and, once loaded, their archive.
    landing = {
      name       = "${var.project_id}-${var.prefix}-landing"
      versioning = false
      # Card numbers in clear: a deleted or overwritten file (expired, erased) must not stay
      # restorable for soft delete's default 7 days.
      soft_delete_seconds = 0
      # An erasure rewrites a file as a new object with the original's creation time as
      # customTime (fraud_mlops/ingestion/erasure.py): the second rule keeps its expiry there.
      rules = [
        { action = "Delete", storage_class = null, age = var.retention_days.landing_archive, prefixes = [var.archive_prefix] },
        { action = "Delete", storage_class = null, age = null, days_since_custom_time = var.retention_days.landing_archive, prefixes = [var.archive_prefix] },
        local.abort_uploads,
      ]
    }
    # Files that failed validation, kept for inspection and then dropped.
    quarantine = {
      name                = "${var.project_id}-${var.prefix}-quarantine"
      versioning          = false
      soft_delete_seconds = 0 # card numbers in clear, as landing
      rules = [
        { action = "Delete", storage_class = null, age = var.retention_days.quarantine, prefixes = [] },
        { action = "Delete", storage_class = null, age = null, days_since_custom_time = var.retention_days.quarantine, prefixes = [] }, # erased files, as landing
        local.abort_uploads,
      ]
    }
    # KFP pipeline root: every run's artifacts (datasets, models, reports), deleted after
    # retention_days.pipeline_root. The name matches the default of settings.pipeline_root on
    # gcp (gs://<project>-pipeline-root).
    pipeline_root = {
      name                = "${var.project_id}-pipeline-root"
      versioning          = false
      soft_delete_seconds = null # Google's default (7 days)
      rules = [
        { action = "Delete", storage_class = null, age = var.retention_days.pipeline_root, prefixes = [] },
        local.abort_uploads,
      ]
    }
    # Registered model versions' files, copied out of the pipeline root at registration
    # (registry/vertex.py): kept while the version is registered (a long-lived champion is read
    # by every training run's gate and redeployed by a rollback), so no Delete rule. The name
    # matches the default of settings.model_store on gcp (gs://<project>-models).
    models = {
      name                = "${var.project_id}-models"
      versioning          = false
      soft_delete_seconds = null # Google's default (7 days)
      rules               = [local.abort_uploads]
    }
    # Composer's bucket (dags/, plugins/, data/): deploys overwrite it, logs age out.
    composer = {
      name                = "${var.project_id}-${var.prefix}-composer"
      versioning          = true
      soft_delete_seconds = null # Google's default (7 days)
      rules = [
        { action = "Delete", storage_class = null, age = 30, prefixes = ["logs/"] },
        local.noncurrent_versions, # earlier deploys of dags/ and plugins/
        local.abort_uploads,
      ]
    }
    # Zipped sources of the prediction function, read by Cloud Build.
    function_source = {
      name                = "${var.project_id}-${var.prefix}-function-source"
      versioning          = false
      soft_delete_seconds = null # Google's default (7 days)
      rules = [
        { action = "Delete", storage_class = null, age = var.retention_days.function_source, prefixes = [] },
        local.abort_uploads,
      ]
    }
  }
}

resource "google_storage_bucket" "this" {
  for_each = local.buckets

  project                     = var.project_id
  name                        = each.value.name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = each.value.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.rules
    content {
      action {
        type          = lifecycle_rule.value.action
        storage_class = lifecycle_rule.value.storage_class
      }
      condition {
        age                        = lifecycle_rule.value.age
        days_since_custom_time     = try(lifecycle_rule.value.days_since_custom_time, null)
        days_since_noncurrent_time = try(lifecycle_rule.value.days_since_noncurrent_time, null)
        matches_prefix             = lifecycle_rule.value.prefixes
      }
    }
  }

  dynamic "soft_delete_policy" {
    for_each = each.value.soft_delete_seconds == null ? [] : [each.value.soft_delete_seconds]
    content {
      retention_duration_seconds = soft_delete_policy.value
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

# --- orchestration: reads and moves landing files, writes quarantine ---

resource "google_storage_bucket_iam_member" "landing_orchestration" {
  bucket = google_storage_bucket.this["landing"].name
  role   = "roles/storage.objectUser"
  member = var.members.orchestration
}

resource "google_storage_bucket_iam_member" "quarantine_orchestration" {
  bucket = google_storage_bucket.this["quarantine"].name
  role   = "roles/storage.objectUser"
  member = var.members.orchestration
}

# Submitting a pipeline run checks that the pipeline root bucket exists (storage.buckets.get).
resource "google_storage_bucket_iam_member" "pipeline_root_orchestration_bucket_reader" {
  bucket = google_storage_bucket.this["pipeline_root"].name
  role   = "roles/storage.legacyBucketReader"
  member = var.members.orchestration
}

# --- pipeline runner: writes its artifacts (datasets, models, reports) ---

resource "google_storage_bucket_iam_member" "pipeline_root_pipeline" {
  bucket = google_storage_bucket.this["pipeline_root"].name
  role   = "roles/storage.objectUser"
  member = var.members.pipeline
}

resource "google_storage_bucket_iam_member" "models_pipeline" {
  bucket = google_storage_bucket.this["models"].name
  role   = "roles/storage.objectUser"
  member = var.members.pipeline
}

# --- builder: reads the function's zipped source ---

resource "google_storage_bucket_iam_member" "function_source_builder" {
  bucket = google_storage_bucket.this["function_source"].name
  role   = "roles/storage.objectViewer"
  member = var.members.builder
}
