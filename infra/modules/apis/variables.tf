variable "project_id" {
  description = "Project to enable the APIs in."
  type        = string
}
