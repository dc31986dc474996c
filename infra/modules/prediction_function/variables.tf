variable "project_id" {
  description = "Project of the function."
  type        = string
}

variable "project_number" {
  description = "The project's number: Cloud Functions names its source bucket by it."
  type        = string
}

variable "region" {
  description = "Region of the function and its image repository."
  type        = string
}

variable "prefix" {
  description = "Name prefix (<prefix>-predict, <prefix>-functions)."
  type        = string
}

variable "source_dir" {
  description = "Directory to zip as the function's source (functions/predict plus fraud_mlops)."
  type        = string
}

variable "source_bucket" {
  description = "Bucket the zipped source is uploaded to."
  type        = string
}

variable "entry_point" {
  description = "functions-framework target in main.py."
  type        = string
}

variable "ingress" {
  description = "Ingress setting; the root module only allows private values."
  type        = string

  validation {
    condition     = var.ingress != "ALLOW_ALL"
    error_message = "The prediction function is private: ingress ALLOW_ALL is not allowed."
  }
}

variable "instances" {
  description = "Minimum and maximum instances."
  type = object({
    min = number
    max = number
  })
}

variable "runtime_sa_email" {
  description = "Runtime service account (inference)."
  type        = string
}

variable "builder_sa_id" {
  description = "Build service account id, projects/P/serviceAccounts/EMAIL (builder)."
  type        = string
}

variable "environment" {
  description = "Environment variables of the function."
  type        = map(string)
}

variable "members" {
  description = "IAM members by identity key (docs/least_privilege.md)."
  type        = map(string)
}
