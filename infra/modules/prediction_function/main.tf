# The prediction function (Cloud Run functions, 2nd gen): private ingress, its own runtime
# service account, built by its own build service account into its own image repository,
# and invocable by the caller service account only (no allUsers, ever).

data "archive_file" "source" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${path.root}/.build/predict-function.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc", "**/.pytest_cache/**"]
}

resource "google_storage_bucket_object" "source" {
  bucket = var.source_bucket
  name   = "predict/${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  location      = var.region
  repository_id = "${var.prefix}-functions"
  format        = "DOCKER"
  description   = "Images of the prediction function."

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "functions_builder" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = var.members.builder
}

# Cloud Functions copies the uploaded source into a bucket of its own,
# gcf-v2-sources-<project number>-<region>, and the build fetches that copy, not our object
# (https://cloud.google.com/functions/docs/building). The bucket appears with the first deploy,
# so the grant is on the project under a condition on its name.
resource "google_project_iam_member" "builder_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = var.members.builder

  condition {
    title       = "cloud-functions-source-copies-only"
    description = "The function sources Cloud Functions copies for its builds, nothing else"
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${var.project_number}-${var.region}\")"
  }
}

locals {
  # Requests one instance takes at once, and the server threads that take them (one each: a
  # request mostly waits on the feature store and the endpoint).
  concurrency = 8
}

resource "google_cloudfunctions2_function" "predict" {
  project     = var.project_id
  location    = var.region
  name        = "${var.prefix}-predict"
  description = "Card-fraud prediction: pseudonymise, fetch online features, predict on the endpoint."

  build_config {
    runtime           = "python311"
    entry_point       = var.entry_point
    service_account   = var.builder_sa_id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = var.runtime_sa_email
    ingress_settings                 = var.ingress
    all_traffic_on_latest_revision   = true
    min_instance_count               = var.instances.min
    max_instance_count               = var.instances.max
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    max_instance_request_concurrency = local.concurrency
    timeout_seconds                  = 30
    # functions-framework serves with gunicorn's threads: THREADS, else 4 per CPU, which would
    # queue half of the requests Cloud Run sends one instance behind the other half.
    environment_variables = merge(var.environment, { THREADS = tostring(local.concurrency) })
  }

  # The build runs as the builder: every grant it needs first (its log writer grant and the
  # source bucket's come in through var.builder_sa_id and var.source_bucket)
  depends_on = [
    google_artifact_registry_repository_iam_member.functions_builder,
    google_project_iam_member.builder_function_sources,
  ]
}

# 2nd-gen functions are Cloud Run services: invoking one takes run.invoker on that service.
resource "google_cloud_run_service_iam_member" "predict_caller" {
  project  = var.project_id
  location = google_cloudfunctions2_function.predict.location
  service  = google_cloudfunctions2_function.predict.name
  role     = "roles/run.invoker"
  member   = var.members.caller
}
