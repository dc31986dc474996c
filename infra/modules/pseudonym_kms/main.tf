# The key-encryption key (KEK) of the card pseudonym keyset. The pseudonym is Tink's
# deterministic AEAD under a keyset that exists in plaintext only inside Cloud KMS callers'
# memory: BigQuery unwraps it per query (KEYS.KEYSET_CHAIN), the prediction function once per
# instance. What is configured anywhere else (Composer and function environment, SQL text,
# job configuration) is the keyset *wrapped* by this key: ciphertext (docs/least_privilege.md).
#
# The wrapped keyset is made once, after the first apply, by whoever may encrypt with this key
# (the deployer, not a runtime identity): `python -m scripts.wrap_pseudonym_keyset` (docs/deploy.md).

resource "google_kms_key_ring" "pseudonym" {
  project  = var.project_id
  name     = "${var.prefix}-pseudonym"
  location = var.location
}

resource "google_kms_crypto_key" "pseudonym" {
  name     = "card-pseudonym"
  key_ring = google_kms_key_ring.pseudonym.id
  purpose  = "ENCRYPT_DECRYPT"
  # A new KEK version wraps future keysets; older versions keep unwrapping the current one,
  # so rotation never changes a pseudonym (the keyset inside stays the same).
  rotation_period = "7776000s"

  lifecycle {
    # Destroying the key makes the wrapped keyset unreadable: every pseudonym is lost.
    prevent_destroy = true
  }
}

# BigQuery unwraps the keyset "via delegation" when the ingestion SQL calls KEYS.KEYSET_CHAIN;
# the identity running the query needs this role, and nothing that could decrypt directly.
resource "google_kms_crypto_key_iam_member" "pseudonym_orchestration" {
  crypto_key_id = google_kms_crypto_key.pseudonym.id
  role          = "roles/cloudkms.cryptoKeyDecrypterViaDelegation"
  member        = var.members.orchestration
}

# The prediction function pseudonymises a card number at request time: it must hold the key
# itself (one Decrypt per instance start; the plaintext keyset stays in its memory).
resource "google_kms_crypto_key_iam_member" "pseudonym_inference" {
  crypto_key_id = google_kms_crypto_key.pseudonym.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = var.members.inference
}
