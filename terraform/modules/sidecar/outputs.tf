output "service_name" {
  description = "Cloud Run service name of the sidecar."
  value       = google_cloud_run_v2_service.sidecar.name
}

output "url" {
  description = "run.app URL of the sidecar."
  value       = google_cloud_run_v2_service.sidecar.uri
}

output "service_accounts" {
  description = "Service account emails of the sidecar and of the Pub/Sub push identity."
  value = {
    sidecar = google_service_account.sidecar.email
    push    = google_service_account.push.email
  }
}

output "topic" {
  description = "Pub/Sub topic the sidecar queues deliveries on."
  value       = google_pubsub_topic.events.name
}

output "subscription" {
  description = "Delivery subscription (push to /v1/deliver or pulled by the sidecar)."
  value       = google_pubsub_subscription.delivery.name
}

output "dead_letter_topic" {
  description = "Topic that receives messages after max_delivery_attempts."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_subscription" {
  description = "Pull subscription holding dead letters for inspection and replay."
  value       = google_pubsub_subscription.dead_letter.name
}

output "firestore_database" {
  description = "Firestore database id (SGTM_FIRESTORE_DATABASE)."
  value       = google_firestore_database.main.name
}

output "push_audience" {
  description = "Audience of the push OIDC token (SGTM_PUSH_AUDIENCE)."
  value       = local.push_audience
}
