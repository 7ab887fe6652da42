output "job_name" {
  description = "Cloud Run job that runs sgtm reconcile."
  value       = google_cloud_run_v2_job.reconcile.name
}

output "bucket" {
  description = "Bucket holding the daily <day>.json and <day>.html reports."
  value       = google_storage_bucket.reports.name
}

output "service_account" {
  description = "Identity of the reconciliation job."
  value       = google_service_account.reconcile.email
}
