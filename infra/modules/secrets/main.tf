# The pseudonymisation key, in two shapes of the same value (the versions are added out of
# band, never through this state: see docs/deploy.md):
#   - <prefix>-pseudonym-key: the raw key, mounted as MLOPS_PSEUDONYM_KEY into the function;
#   - airflow-connections-<conn id>: an Airflow connection ({"conn_type": "generic",
#     "password": <key>}) read by Composer's Secret Manager secrets backend.
# Each identity can read its own shape and nothing else.

locals {
  connections_prefix = "airflow-connections"
}

resource "google_secret_manager_secret" "pseudonym_key" {
  project   = var.project_id
  secret_id = "${var.prefix}-pseudonym-key"

  replication {
    user_managed {
      replicas {
        location = var.region
        dynamic "customer_managed_encryption" {
          for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
          content {
            kms_key_name = customer_managed_encryption.value
          }
        }
      }
    }
  }
}

resource "google_secret_manager_secret" "pseudonym_connection" {
  project   = var.project_id
  secret_id = "${local.connections_prefix}-${var.pseudonym_conn_id}"

  replication {
    user_managed {
      replicas {
        location = var.region
        dynamic "customer_managed_encryption" {
          for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
          content {
            kms_key_name = customer_managed_encryption.value
          }
        }
      }
    }
  }
}

resource "google_secret_manager_secret_iam_member" "pseudonym_key_inference" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.pseudonym_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = var.members.inference
}

resource "google_secret_manager_secret_iam_member" "pseudonym_connection_orchestration" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.pseudonym_connection.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = var.members.orchestration
}
