# Every input of the root module. Defaults match plugins/fraud_mlops/settings.py, so the
# DAGs on Composer see the same names the local target uses (tests/infra checks this).

variable "project_id" {
  description = "Google Cloud project that holds every resource of the system."
  type        = string
}

variable "region" {
  description = "Region of Composer, Vertex AI, the function, buckets and Pub/Sub (settings: GCP_REGION)."
  type        = string
  default     = "europe-west4"
}

variable "bq_location" {
  description = "BigQuery location of the warehouse dataset (settings: MLOPS_BQ_LOCATION). Must contain var.region."
  type        = string
  default     = "EU"
}

variable "name_prefix" {
  description = "Prefix of resource names (service accounts, topic, subscription, repository, secrets)."
  type        = string
  default     = "fraud"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}$", var.name_prefix))
    error_message = "name_prefix must be 2-11 lowercase letters, digits or hyphens, starting with a letter (service account ids are limited to 30 characters)."
  }
}

variable "labels" {
  description = "Extra labels merged into every labelled resource."
  type        = map(string)
  default     = {}
}

variable "dataset_id" {
  description = "BigQuery dataset of the warehouse (settings: MLOPS_BQ_DATASET)."
  type        = string
  default     = "fraud"
}

variable "landing_prefix" {
  description = "Object prefix that new transaction files land under; the GCS notification and the sensors watch it (settings: MLOPS_LANDING_PREFIX)."
  type        = string
  default     = "incoming/"
  validation {
    condition     = can(regex("^[^/].*/$", var.landing_prefix))
    error_message = "landing_prefix must be a folder such as \"incoming/\" (an empty prefix would watch the archive too)."
  }
}

variable "archive_prefix" {
  description = "Prefix loaded files are moved to inside the landing bucket, not under landing_prefix nor above it (settings: MLOPS_ARCHIVE_PREFIX, which refuses nesting)."
  type        = string
  default     = "processed/"
  validation {
    condition     = can(regex("^[^/].*/$", var.archive_prefix))
    error_message = "archive_prefix must be a folder such as \"processed/\"."
  }
}

variable "pseudonym_kms_location" {
  description = "Cloud KMS location of the pseudonym key ring; the BigQuery dataset's location (EU -> europe, US -> us)."
  type        = string
  default     = "europe"
}

variable "pseudonym_wrapped_keyset" {
  description = "The card pseudonym keyset wrapped by the pseudonym KMS key, base64 (settings: MLOPS_PSEUDONYM_KEYSET). Ciphertext, not a secret; made once after the first apply by scripts/wrap_pseudonym_keyset.py (docs/deploy.md). Empty: ingestion and the function refuse to pseudonymise."
  type        = string
  default     = ""
}

variable "retention_days" {
  description = "Lifecycle ages in days: pipeline artifacts, function source archives (archived and quarantined landing files follow raw_retention_days)."
  type = object({
    pipeline_root   = number
    function_source = number
  })
  default = {
    pipeline_root   = 365
    function_source = 30
  }
}

variable "raw_retention_days" {
  description = "Days card numbers are kept: raw rows (partition expiration), archived and quarantined landing files (settings: MLOPS_RAW_RETENTION_DAYS)."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days the log dataset keeps a routed prediction-log partition (its default partition expiration, which reaches only tables created after a change: docs/least_privilege.md gives the update of the sink's existing table); an erasure's record is kept a day longer, so the hourly copy from the sink never logs an erased card's earlier answers again (settings: MLOPS_LOG_RETENTION_DAYS)."
  type        = number
  default     = 30
}

variable "dedup_horizon_days" {
  description = "\"all\" (default): a new copy of a transaction id is checked against every staged id, a read of all staging partitions that grows with history; or a number of days: only ids staged from that many days before the increment's look-back (settings: MLOPS_DEDUP_HORIZON_DAYS; docs/ingestion.md)."
  type        = string
  default     = "all"
  validation {
    condition     = can(regex("^(all|[0-9]+)$", var.dedup_horizon_days))
    error_message = "dedup_horizon_days is \"all\" or a number of days."
  }
}

variable "watcher_poll_seconds" {
  description = "Seconds the event DAG's Pub/Sub watcher waits after an empty pull (settings: MLOPS_WATCHER_POLL_SECONDS): a notification's longest wait, against three triggerer log lines a poll on an idle subscription (docs/event_driven.md)."
  type        = number
  default     = 1
  validation {
    condition     = var.watcher_poll_seconds > 0
    error_message = "watcher_poll_seconds must be more than 0 (0 would pull in a tight loop)."
  }
}

variable "raw_dataset_id" {
  description = "BigQuery dataset of the raw card transactions (settings: MLOPS_BQ_RAW_DATASET). Only the ingestion identity may read it."
  type        = string
  default     = "fraud_raw"
}

variable "candidate_dataset_id" {
  description = "BigQuery dataset of a run's unchecked outputs (settings: MLOPS_BQ_CANDIDATE_DATASET)."
  type        = string
  default     = "fraud_candidates"
}

variable "snapshot_dataset_id" {
  description = "BigQuery dataset of the training snapshots, the only one the training pipeline reads (settings: MLOPS_BQ_SNAPSHOT_DATASET)."
  type        = string
  default     = "fraud_snapshots"
}

variable "kms_key_name" {
  description = "Optional CMEK key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the buckets, the Pub/Sub topic and Secret Manager secrets; in var.region, as Cloud Storage needs for regional buckets. null = Google-managed keys."
  type        = string
  default     = null
}

variable "bigquery_kms_key_name" {
  description = "Optional CMEK key for the BigQuery datasets (curated, raw, candidates, prediction log). BigQuery needs a key in the datasets' location: a `europe` key ring for EU, `us` for US, else the region itself, so it cannot be kms_key_name. null = Google-managed keys."
  type        = string
  default     = null
}

variable "composer_image_version" {
  description = "Composer 3 image. Its Airflow version must equal the locked apache-airflow version (tests/infra checks it)."
  type        = string
  default     = "composer-3-airflow-3.3.2"

  validation {
    condition     = can(regex("^composer-3-airflow-3\\.[0-9]+\\.[0-9]+", var.composer_image_version))
    error_message = "Use a Composer 3 image on Airflow 3 (composer-3-airflow-3.x.y[-build.n])."
  }
}

variable "composer_environment_size" {
  description = "Size of the Composer environment's managed infrastructure."
  type        = string
  default     = "ENVIRONMENT_SIZE_SMALL"
}

variable "composer_private_environment" {
  description = "Private IP Composer 3 environment (no public IPs on Airflow components)."
  type        = bool
  default     = true
}

variable "endpoint_id" {
  description = "Numeric id of the Vertex AI endpoint (the API requires a number of at most 10 digits, no leading zero)."
  type        = string
  default     = "4201000001"

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}$", var.endpoint_id))
    error_message = "endpoint_id must be a number of 1-10 digits without a leading zero."
  }
}

variable "online_store_max_nodes" {
  description = "Upper bound of the Bigtable nodes behind the Feature Online Store (autoscaled from 1)."
  type        = number
  default     = 2
}

variable "create_feature_view" {
  description = "Create the Feature View (and its IAM). Vertex AI validates the BigQuery source on creation; latest_card_features is created by this apply (modules/bigquery) but stays empty until the first ingestion run, and whether Vertex accepts an empty source is unverified: apply with false, run ingestion once, apply again with true."
  type        = bool
  default     = false
}

variable "function_source_dir" {
  description = "Directory zipped as the prediction function's source: functions/predict plus the fraud_mlops package, assembled by `make bundle-function`."
  type        = string
  default     = "./.build/predict-function"
}

variable "function_entry_point" {
  description = "Name of the functions-framework target in the function's main.py."
  type        = string
  default     = "predict"
}

variable "function_ingress" {
  description = "Ingress of the prediction function. Never ALLOW_ALL: callers come from inside the VPC or through a load balancer, and must hold run.invoker."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.function_ingress)
    error_message = "function_ingress must be ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB: the function is private."
  }
}

variable "function_instances" {
  description = "Minimum and maximum instances of the prediction function (min > 0 avoids cold starts at a cost)."
  type = object({
    min = number
    max = number
  })
  default = {
    min = 0
    max = 10
  }
}

variable "function_env" {
  description = "Extra environment variables of the prediction function (merged over the defaults)."
  type        = map(string)
  default     = {}
}

variable "alert_email" {
  description = "Email address notified by the monitoring alert policy (docs/monitoring.md)."
  type        = string
}
