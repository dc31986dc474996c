variable "project_id" {
  description = "Project the service accounts live in."
  type        = string
}

variable "prefix" {
  description = "Prefix of the account ids (<prefix>-<role>)."
  type        = string
}

variable "agent_members" {
  description = "IAM members of Google's service agents, keyed like docs/least_privilege.md."
  type        = map(string)
}

variable "project_number" {
  description = "The project's number: IAM conditions name resources by it."
  type        = string
}

variable "connections_prefix" {
  description = "Composer's Secret Manager backend reads Airflow connections as <prefix>-<conn id>."
  type        = string
}
