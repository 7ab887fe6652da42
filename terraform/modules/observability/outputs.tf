output "log_bucket" {
  description = "Log bucket id holding the services' logs."
  value       = google_logging_project_bucket_config.main.id
}

output "audit_dataset" {
  description = "BigQuery dataset receiving consent_decision records."
  value       = google_bigquery_dataset.audit.dataset_id
}

output "metrics" {
  description = "Log-based metric names by purpose."
  value       = { for k, m in google_logging_metric.main : k => m.name }
}

output "notification_channels" {
  description = "Notification channel ids the alerts notify (the email channels and the ones passed in)."
  value       = local.channels
}
