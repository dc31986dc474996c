variable "project_id" {
  description = "Project of the key ring."
  type        = string
}

variable "prefix" {
  description = "Name prefix of the key ring (<prefix>-pseudonym)."
  type        = string
}

variable "location" {
  description = "Cloud KMS location of the key ring; must be the BigQuery dataset's location (EU -> europe, US -> us), where KEYS.KEYSET_CHAIN looks for it."
  type        = string
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
