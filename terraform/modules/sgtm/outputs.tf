output "tagging_service_name" {
  description = "Cloud Run service name of the tagging server."
  value       = google_cloud_run_v2_service.tagging.name
}

output "tagging_url" {
  description = "run.app URL of the tagging server."
  value       = google_cloud_run_v2_service.tagging.uri
}

output "preview_service_name" {
  description = "Cloud Run service name of the preview server."
  value       = google_cloud_run_v2_service.preview.name
}

output "preview_url" {
  description = "run.app URL of the preview server (PREVIEW_SERVER_URL)."
  value       = google_cloud_run_v2_service.preview.uri
}

output "service_accounts" {
  description = "Service account emails of the tagging and preview servers."
  value = {
    tagging = google_service_account.tagging.email
    preview = google_service_account.preview.email
  }
}

output "credentials_file" {
  description = "Value of SGTM_CREDENTIALS inside the tagging server."
  value       = local.credentials_file
}
