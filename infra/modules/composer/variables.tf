variable "project_id" {
  description = "Project of the environment."
  type        = string
}

variable "region" {
  description = "Region of the environment."
  type        = string
}

variable "name" {
  description = "Environment name."
  type        = string
}

variable "image_version" {
  description = "Composer 3 image on Airflow 3."
  type        = string
}

variable "environment_size" {
  description = "ENVIRONMENT_SIZE_SMALL | MEDIUM | LARGE."
  type        = string
}

variable "private" {
  description = "Private IP environment."
  type        = bool
}

variable "bucket_name" {
  description = "Bucket for dags/, plugins/, data/ (created by the storage module)."
  type        = string
}

variable "service_account" {
  description = "Environment service account email (orchestration)."
  type        = string
}

variable "pypi_packages" {
  description = "Packages on top of the image: requirements.txt as name => ==version."
  type        = map(string)
}

variable "env_variables" {
  description = "Environment of every Airflow component: the names fraud_mlops.settings reads."
  type        = map(string)

  validation {
    condition = length(setintersection(keys(var.env_variables), [
      "AIRFLOW_HOME", "C_FORCE_ROOT", "CONTAINER_NAME", "DAGS_FOLDER", "GCP_PROJECT", "GCS_BUCKET",
      "GKE_CLUSTER_NAME", "SQL_DATABASE", "SQL_INSTANCE", "SQL_PASSWORD", "SQL_PROJECT", "SQL_REGION", "SQL_USER",
    ])) == 0
    error_message = "Composer reserves these names (it sets GCP_PROJECT itself)."
  }
}

variable "connections_prefix" {
  description = "Secret Manager prefix of Airflow connections."
  type        = string
}
