terraform {
  # OpenTofu >= 1.6 (the target) and Terraform >= 1.6 read this code alike.
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.20, < 8.0"
    }
    # Beta-only resources: service identities and resource-level IAM on the Vertex AI
    # endpoint and feature view (the narrowest scope those grants can have).
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.20, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
