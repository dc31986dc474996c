terraform {
  # OpenTofu >= 1.6 (the target) and Terraform >= 1.6 read this code alike.
  required_version = ">= 1.6"

  required_providers {
    # 7.26: Composer 3's enable_private_environment is sent as networkingType PRIVATE (the
    # earlier field was Composer 2's).
    google = {
      source  = "hashicorp/google"
      version = ">= 7.26, < 8.0"
    }
    # Beta-only resources: service identities and resource-level IAM on the Vertex AI
    # endpoint and feature view (the narrowest scope those grants can have; the feature view's
    # IAM resource exists from 6.30).
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.26, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
