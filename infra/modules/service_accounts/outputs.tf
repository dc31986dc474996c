output "emails" {
  description = "Service account emails by role."
  value       = { for key, sa in google_service_account.this : key => sa.email }
}

output "ids" {
  description = "Service account resource ids (projects/P/serviceAccounts/EMAIL) by role."
  value       = { for key, sa in google_service_account.this : key => sa.id }
}

output "members" {
  description = "IAM members (serviceAccount:EMAIL) by role."
  value       = local.members
}
