variable "project_id" {
  description = "Project of the secrets."
  type        = string
}

variable "region" {
  description = "The only region the secrets are replicated to."
  type        = string
}

variable "prefix" {
  description = "Name prefix of the raw-key secret."
  type        = string
}

variable "pseudonym_conn_id" {
  description = "Airflow connection id of the key (settings: MLOPS_PSEUDONYM_CONN_ID)."
  type        = string
}

variable "kms_key_name" {
  description = "Optional CMEK key of the secrets; null = Google-managed."
  type        = string
  default     = null
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
