# Composer 3 on an Airflow 3 image, running as the orchestration service account, with
# connections read from Secret Manager and the project's settings as environment variables.

resource "google_composer_environment" "this" {
  project = var.project_id
  region  = var.region
  name    = var.name

  storage_config {
    bucket = var.bucket_name
  }

  config {
    environment_size           = var.environment_size
    enable_private_environment = var.private

    software_config {
      image_version = var.image_version
      env_variables = var.env_variables
      pypi_packages = var.pypi_packages

      # No core-load_examples: Composer's "blocked configuration options" list it (read for
      # Airflow 2; the Airflow 3 list could not be read from here), a blocked override fails the
      # environment's creation, and Composer's images load no examples anyway.
      airflow_config_overrides = {
        "core-dags_are_paused_at_creation" = "True"
        # Connections come from Secret Manager (airflow-connections-<conn id>), which the
        # environment's account may read under an IAM condition on that prefix
        # (modules/service_accounts); variables and config are not looked up there.
        "secrets-backend" = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
        "secrets-backend_kwargs" = jsonencode({
          connections_prefix = var.connections_prefix
          variables_prefix   = null
          config_prefix      = null
          sep                = "-"
          project_id         = var.project_id
        })
      }
    }

    node_config {
      service_account = var.service_account
    }

    workloads_config {
      scheduler {
        cpu        = 1
        memory_gb  = 2
        storage_gb = 1
        count      = 1
      }
      triggerer {
        cpu       = 0.5
        memory_gb = 1
        count     = 1
      }
      dag_processor {
        cpu        = 1
        memory_gb  = 2
        storage_gb = 1
        count      = 1
      }
      web_server {
        cpu        = 1
        memory_gb  = 2
        storage_gb = 1
      }
      worker {
        cpu        = 1
        memory_gb  = 4
        storage_gb = 2
        min_count  = 1
        max_count  = 4
      }
    }
  }
}
