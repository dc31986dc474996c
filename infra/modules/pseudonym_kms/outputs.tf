output "key_uri" {
  description = "Tink key URI of the KEK (gcp-kms://projects/.../cryptoKeys/card-pseudonym): settings MLOPS_PSEUDONYM_KMS_KEY."
  value       = "gcp-kms://${google_kms_crypto_key.pseudonym.id}"
}
