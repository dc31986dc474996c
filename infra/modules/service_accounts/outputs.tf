output "emails" {
  description = "Service account emails by role."
  value       = { for key, sa in google_service_account.this : key => sa.email }
}

output "ids" {
  description = "Service account resource ids (projects/P/serviceAccounts/EMAIL) by role; known once the accounts' project grants exist (a build run as the builder needs its log writer grant)."
  value       = { for key, sa in google_service_account.this : key => sa.id }
  depends_on  = [google_project_iam_member.builder_log_writer]
}

output "members" {
  description = "IAM members (serviceAccount:EMAIL) by role."
  value       = local.members
}
