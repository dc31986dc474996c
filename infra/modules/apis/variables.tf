variable "project_id" {
  description = "Project to enable the APIs in."
  type        = string
}

variable "enable_kms" {
  description = "Also enable Cloud KMS (when a CMEK key is used)."
  type        = bool
}
