variable "project_id" {
  description = "Project of the topic and subscription."
  type        = string
}

variable "prefix" {
  description = "Name prefix (fraud -> fraud-landing-notifications, fraud-landing-airflow)."
  type        = string
}

variable "landing_bucket" {
  description = "Bucket whose new objects are announced."
  type        = string
}

variable "landing_prefix" {
  description = "Only objects under this prefix are announced (settings: MLOPS_LANDING_PREFIX)."
  type        = string
}

variable "kms_key_name" {
  description = "Optional CMEK key of the topic; null = Google-managed."
  type        = string
  default     = null
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
