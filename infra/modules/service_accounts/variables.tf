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
