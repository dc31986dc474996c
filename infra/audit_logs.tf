# Data-access audit logs (off by default on Google Cloud) for the three services that hold or
# guard card data: who read or wrote which BigQuery table, which Cloud Storage object (landing,
# archive, quarantine), and who used the pseudonym KMS key. ADMIN_READ covers metadata reads
# (e.g. jobs.get / INFORMATION_SCHEMA.JOBS, where query text lives). Admin-activity logs are
# always on. Each block is authoritative for its service's audit config only, not for IAM.

resource "google_project_iam_audit_config" "data_access" {
  for_each = toset(["bigquery.googleapis.com", "storage.googleapis.com", "cloudkms.googleapis.com"])

  project = var.project_id
  service = each.value

  audit_log_config {
    log_type = "ADMIN_READ"
  }
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}
