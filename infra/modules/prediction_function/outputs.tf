output "uri" {
  description = "HTTPS URI of the function (reachable per its ingress setting, by run.invoker holders)."
  value       = google_cloudfunctions2_function.predict.service_config[0].uri
}

output "name" {
  description = "Function name."
  value       = google_cloudfunctions2_function.predict.name
}
