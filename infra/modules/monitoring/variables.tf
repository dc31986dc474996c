variable "project_id" {
  description = "Project of the sink, metrics and alert policy."
  type        = string
}

variable "prefix" {
  description = "Name prefix of the sink and metric."
  type        = string
}

variable "location" {
  description = "BigQuery location of the log dataset (the warehouse's)."
  type        = string
}

variable "log_dataset_id" {
  description = "Dataset the prediction-log sink writes (settings: <MLOPS_BQ_DATASET>_logs)."
  type        = string
}

variable "log_retention_days" {
  description = "Days a routed prediction-log partition is kept (the warehouse's prediction_log keeps the history)."
  type        = number
  default     = 30
}

variable "function_service_name" {
  description = "Cloud Run service of the prediction function (its logs feed the sink, the dashboard charts it)."
  type        = string
}

variable "endpoint_id" {
  description = "Numeric id of the Vertex AI endpoint the dashboard charts."
  type        = string
}

variable "alert_email" {
  description = "Email address of the alert policy's notification channel."
  type        = string
}

variable "kms_key_name" {
  description = "Optional CMEK key of the log dataset; null = Google-managed."
  type        = string
  default     = null
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md); orchestration reads the log dataset."
  type        = map(string)
}
