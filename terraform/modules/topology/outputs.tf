output "region" {
  description = "Region of every regional resource."
  value       = var.region
}

output "collect_host" {
  description = "Hostname that serves the collector."
  value       = local.collect_host
}

output "collect_url" {
  description = "Value of SGTM_COLLECT_URL: where the sidecar posts signed batches."
  value       = "https://${local.collect_host}${var.client_path}"
}

output "behind_load_balancer" {
  description = "True when the global HTTPS load balancer fronts the services."
  value       = local.behind_lb
}

output "sgtm_ingress" {
  description = "Ingress setting of the sGTM tagging server."
  value       = local.sgtm_ingress
}

output "preview_ingress" {
  description = "Ingress setting of the sGTM preview server."
  value       = local.preview_ingress
}

output "sidecar_ingress" {
  description = "Ingress setting of the sidecar."
  value       = local.sidecar_ingress
}

output "firestore_location" {
  description = "Firestore database location."
  value       = var.firestore_location
}

output "bigquery_location" {
  description = "BigQuery dataset location."
  value       = var.bigquery_location
}

output "log_bucket_location" {
  description = "Cloud Logging bucket location: the service region, so logs stay next to the services."
  value       = var.region
}

output "storage_regions" {
  description = "Regions allowed to persist Pub/Sub messages and Secret Manager replicas."
  value       = [var.region]
}

output "trusted_proxies" {
  description = "SGTM_TRUSTED_PROXIES for the sidecar: X-Forwarded-For entries appended by Google's front ends."
  value       = local.trusted_proxies
}
