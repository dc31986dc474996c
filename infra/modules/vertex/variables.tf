variable "project_id" {
  description = "Project of the Vertex AI resources."
  type        = string
}

variable "region" {
  description = "Vertex AI region (settings: GCP_REGION)."
  type        = string
}

variable "endpoint_id" {
  description = "Numeric id of the endpoint."
  type        = string
}

variable "source_view_uri" {
  description = "bq:// URI of the latest-features view the feature view syncs from."
  type        = string
}

variable "online_store_max" {
  description = "Maximum Bigtable nodes of the online store."
  type        = number
}

variable "create_feature_view" {
  description = "Create the feature view (its BigQuery source must exist; see the root variable)."
  type        = bool
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
