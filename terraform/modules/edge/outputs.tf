output "ip_address" {
  description = "Anycast IPv4 address of the load balancer (null with domain mapping)."
  value       = local.lb == 1 ? google_compute_global_address.collect[0].address : null
}

output "dns_records" {
  description = "DNS records to create at the domain's DNS provider."
  value = local.lb == 1 ? [
    { name = var.hostname, type = "A", rrdata = google_compute_global_address.collect[0].address },
    ] : [
    for r in google_cloud_run_domain_mapping.collect[0].status[0].resource_records :
    # Cloud Run gives names relative to the verified domain (e.g. "collect").
    { name = coalesce(r.name, var.hostname), type = r.type, rrdata = r.rrdata }
  ]
}

output "security_policy" {
  description = "Cloud Armor policy name (null with domain mapping)."
  value       = local.lb == 1 ? google_compute_security_policy.edge[0].name : null
}
