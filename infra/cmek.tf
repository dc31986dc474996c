# Optional CMEK: with var.kms_key_name set, the service agents of the stores that hold our data
# (buckets, BigQuery, Pub/Sub, Secret Manager) may use the key, and nothing else may.
# The key itself (and its rotation) is managed outside this stack, usually by a security team.

resource "google_kms_crypto_key_iam_member" "gcs_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.gcs_agent
}

resource "google_kms_crypto_key_iam_member" "bigquery_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.bigquery_agent
}

resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.pubsub_agent
}

resource "google_kms_crypto_key_iam_member" "secretmanager_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.secretmanager_agent
}
