terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
    # Resource-level IAM on the endpoint and the feature view is beta-only.
    google-beta = {
      source = "hashicorp/google-beta"
    }
  }
}
