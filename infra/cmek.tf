# Optional CMEK: with var.kms_key_name set, the service agents of the stores that hold our data
# (buckets, Pub/Sub, Secret Manager) may use that key, and with var.bigquery_kms_key_name set,
# BigQuery's agent may use that one; nothing else may. Two keys, because each store needs a key
# in its data's location: the buckets are regional (var.region), the datasets in a BigQuery
# location (EU and US need the `europe` and `us` multi-region key rings). The keys themselves
# (and their rotation) are managed outside this stack, usually by a security team.

locals {
  # The KMS location a BigQuery location's CMEK key must be in.
  bigquery_key_location = lookup({ EU = "europe", US = "us" }, upper(var.bq_location), lower(var.bq_location))
}

resource "google_kms_crypto_key_iam_member" "gcs_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.gcs_agent

  lifecycle {
    precondition {
      condition     = split("/", var.kms_key_name)[3] == var.region
      error_message = "kms_key_name must be a key in var.region: Cloud Storage encrypts a regional bucket only with a key in its region."
    }
  }
}

resource "google_kms_crypto_key_iam_member" "bigquery_agent" {
  count = var.bigquery_kms_key_name == null ? 0 : 1

  crypto_key_id = var.bigquery_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.agent_members.bigquery_agent

  lifecycle {
    precondition {
      condition     = split("/", var.bigquery_kms_key_name)[3] == local.bigquery_key_location
      error_message = "bigquery_kms_key_name must be a key in the datasets' location (europe for EU, us for US, else the region itself)."
    }
  }
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
