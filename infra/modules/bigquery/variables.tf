variable "project_id" {
  description = "Project of the dataset."
  type        = string
}

variable "dataset_id" {
  description = "Dataset id (settings: MLOPS_BQ_DATASET)."
  type        = string
}

variable "raw_dataset_id" {
  description = "Dataset of the raw card transactions (settings: MLOPS_BQ_RAW_DATASET)."
  type        = string
}

variable "candidate_dataset_id" {
  description = "Dataset of a run's unchecked outputs (settings: MLOPS_BQ_CANDIDATE_DATASET)."
  type        = string
}

variable "snapshot_dataset_id" {
  description = "Dataset of the training snapshots (settings: MLOPS_BQ_SNAPSHOT_DATASET)."
  type        = string
}

variable "raw_retention_days" {
  description = "Days raw rows are kept (partition expiration; settings: MLOPS_RAW_RETENTION_DAYS)."
  type        = number
}

variable "location" {
  description = "BigQuery location (settings: MLOPS_BQ_LOCATION)."
  type        = string
}

variable "kms_key_name" {
  description = "Optional CMEK key of the dataset and its tables; null = Google-managed."
  type        = string
  default     = null
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
