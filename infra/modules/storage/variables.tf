variable "project_id" {
  description = "Project of the buckets (also the prefix of their globally unique names)."
  type        = string
}

variable "region" {
  description = "Location of every bucket; the pipeline root must share Vertex AI's region."
  type        = string
}

variable "prefix" {
  description = "Name prefix after the project id."
  type        = string
}

variable "archive_prefix" {
  description = "Prefix of archived (already loaded) files in the landing bucket."
  type        = string
}

variable "retention_days" {
  description = "Lifecycle ages in days (see the root module)."
  type = object({
    landing_archive = number
    quarantine      = number
    pipeline_root   = number
    function_source = number
  })
}

variable "kms_key_name" {
  description = "Optional CMEK key for every bucket; null = Google-managed."
  type        = string
  default     = null
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
