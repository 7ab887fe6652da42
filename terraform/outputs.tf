output "collect_url" {
  description = "Public base URL of the collector (browsers, web container transport URL)."
  value       = "https://${module.topology.collect_host}"
}

output "sgtm_collect_url" {
  description = "SGTM_COLLECT_URL given to the sidecar: the generated sGTM client's endpoint."
  value       = module.topology.collect_url
}

output "sidecar_url" {
  description = "Where shops send webhooks and Event API calls: https://collect.<domain>/v1 behind the load balancer, the sidecar's run.app URL with domain mapping."
  value       = module.topology.behind_load_balancer ? "https://${module.topology.collect_host}/v1" : "${module.sidecar.url}/v1"
}

output "service_urls" {
  description = "run.app URLs of the Cloud Run services (behind the load balancer, only internal and load balancer traffic reaches the tagging server and the sidecar there)."
  value = {
    sgtm_tagging = module.sgtm.tagging_url
    sgtm_preview = module.sgtm.preview_url
    sidecar      = module.sidecar.url
  }
}

output "dns_records" {
  description = "DNS records to create at your DNS provider for collect.<domain>."
  value       = module.edge.dns_records
}

output "service_accounts" {
  description = "Service account emails by role."
  value = merge(
    { for k, v in module.sgtm.service_accounts : "sgtm_${k}" => v },
    module.sidecar.service_accounts,
  )
}

output "secret_ids" {
  description = "Secret Manager secrets to fill with `gcloud secrets versions add <id> --data-file=-` before the services can start."
  value       = sort(keys(local.secrets))
}

output "pubsub" {
  description = "Pub/Sub topic, delivery subscription and dead-letter resources."
  value = {
    topic                    = module.sidecar.topic
    subscription             = module.sidecar.subscription
    dead_letter_topic        = module.sidecar.dead_letter_topic
    dead_letter_subscription = module.sidecar.dead_letter_subscription
    push_audience            = module.sidecar.push_audience
  }
}

output "firestore_database" {
  description = "Firestore database id."
  value       = module.sidecar.firestore_database
}

output "observability" {
  description = "Log bucket, consent audit dataset and log-based metric names."
  value = {
    log_bucket    = module.observability.log_bucket
    audit_dataset = module.observability.audit_dataset
    metrics       = module.observability.metrics
  }
}
