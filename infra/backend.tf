# State lives in a GCS bucket created once by hand (it cannot be managed by the state it holds):
#   tofu init -backend-config="bucket=<state bucket>" -backend-config="prefix=fraud-mlops"
# For a throw-away trial, `tofu init -backend=false` keeps state local instead.
terraform {
  backend "gcs" {}
}
