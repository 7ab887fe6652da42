# Provider-free: every decision here is plain data, so `terraform test` can check it offline
# (the google provider binary cannot be installed in CI).
locals {
  collect_host = "${var.collect_subdomain}.${var.domain}"
  behind_lb    = var.edge_mode == "load_balancer"

  # Behind the load balancer the services accept only internal traffic (which includes
  # Pub/Sub push from this project) and the load balancer, so Cloud Armor cannot be bypassed
  # through the run.app URLs. With domain mappings there is no load balancer to admit.
  ingress_lb_only = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  ingress_public  = "INGRESS_TRAFFIC_ALL"

  sgtm_ingress    = local.behind_lb ? local.ingress_lb_only : local.ingress_public
  sidecar_ingress = local.behind_lb ? local.ingress_lb_only : local.ingress_public
  # The tagging server calls the preview server at its run.app URL from outside any VPC, so
  # the preview server must accept public traffic; it serves only GTM preview sessions.
  preview_ingress = local.ingress_public

  # Google's load balancer documents X-Forwarded-For as "<supplied>,<client-ip>,<lb-ip>", so the
  # client is the second entry from the right; served directly, Cloud Run appends only the
  # client. The sidecar picks the client address by counting trusted entries from the right.
  trusted_proxies = local.behind_lb ? 2 : 1
}
