locals {
  lb      = var.mode == "load_balancer" ? 1 : 0
  mapping = var.mode == "domain_mapping" ? 1 : 0
}

# --- Global external HTTPS load balancer ------------------------------------------------

resource "google_compute_global_address" "collect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-collect"
  labels  = var.labels
}

resource "google_compute_managed_ssl_certificate" "collect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-collect"

  managed {
    domains = [var.hostname]
  }
}

resource "google_compute_region_network_endpoint_group" "sgtm" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-sgtm"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = var.sgtm_service
  }
}

resource "google_compute_region_network_endpoint_group" "sidecar" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-sidecar"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = var.sidecar_service
  }
}

resource "google_compute_security_policy" "edge" {
  count = local.lb

  project     = var.project_id
  name        = "${var.name_prefix}-edge"
  description = "Rate limits per client IP; keeps the Pub/Sub push endpoint off the internet."
  type        = "CLOUD_ARMOR"

  # Only Pub/Sub may deliver, and it calls the run.app URL directly (internal traffic).
  rule {
    action      = "deny(403)"
    priority    = 1000
    description = "No public access to the push endpoint"
    match {
      expr {
        expression = "request.path.startsWith('/v1/deliver')"
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 2000
    description = "Sidecar API and webhooks"
    match {
      expr {
        expression = "request.path.startsWith('/v1/')"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit.sidecar_per_minute
        interval_sec = 60
      }
    }
  }

  # The sidecar's signed batches arrive from Cloud Run's shared egress addresses, so they get
  # their own, higher budget; the generated client rejects unsigned ones with a cheap 401.
  rule {
    action      = "throttle"
    priority    = 2500
    description = "Signed sidecar batches to the generated client"
    match {
      expr {
        expression = "request.path == '${var.client_path}'"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit.batches_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 3000
    description = "sGTM collection"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit.sgtm_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default rule"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

resource "google_compute_backend_service" "sgtm" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-sgtm"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge[0].id

  backend {
    group = google_compute_region_network_endpoint_group.sgtm[0].id
  }

  log_config {
    enable      = true
    sample_rate = var.log_sample_rate
  }
}

resource "google_compute_backend_service" "sidecar" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-sidecar"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge[0].id

  backend {
    group = google_compute_region_network_endpoint_group.sidecar[0].id
  }

  # The visitor's region for the sidecar's regional consent rules (docs/privacy.md, "Regions").
  # Set here, by the load balancer, so the browser cannot choose its own region.
  custom_request_headers = [
    "X-Sgtm-Client-Region: {client_region}",
    "X-Sgtm-Client-Region-Subdivision: {client_region_subdivision}",
  ]

  log_config {
    enable      = true
    sample_rate = var.log_sample_rate
  }
}

resource "google_compute_url_map" "https" {
  count = local.lb

  project         = var.project_id
  name            = "${var.name_prefix}-collect"
  default_service = google_compute_backend_service.sgtm[0].id

  host_rule {
    hosts        = [var.hostname]
    path_matcher = "collect"
  }

  path_matcher {
    name            = "collect"
    default_service = google_compute_backend_service.sgtm[0].id

    path_rule {
      paths   = ["/v1/*"]
      service = google_compute_backend_service.sidecar[0].id
    }

    # The sidecar's readiness probe sits outside /v1/; expose it for the uptime check.
    path_rule {
      paths   = ["/v1/readyz"]
      service = google_compute_backend_service.sidecar[0].id
      route_action {
        url_rewrite {
          path_prefix_rewrite = "/readyz"
        }
      }
    }
  }
}

resource "google_compute_ssl_policy" "modern" {
  count = local.lb

  project         = var.project_id
  name            = "${var.name_prefix}-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "collect" {
  count = local.lb

  project          = var.project_id
  name             = "${var.name_prefix}-collect"
  url_map          = google_compute_url_map.https[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.collect[0].id]
  ssl_policy       = google_compute_ssl_policy.modern[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-https"
  ip_address            = google_compute_global_address.collect[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.collect[0].id
  load_balancing_scheme = "EXTERNAL_MANAGED"
  labels                = var.labels
}

resource "google_compute_url_map" "redirect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  url_map = google_compute_url_map.redirect[0].id
}

resource "google_compute_global_forwarding_rule" "http" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-http"
  ip_address            = google_compute_global_address.collect[0].id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect[0].id
  load_balancing_scheme = "EXTERNAL_MANAGED"
  labels                = var.labels
}

# --- Cheaper alternative: Cloud Run domain mapping (no Cloud Armor, no path routing) -----

resource "google_cloud_run_domain_mapping" "collect" {
  count = local.mapping

  project  = var.project_id
  location = var.region
  name     = var.hostname

  metadata {
    namespace = var.project_id
    labels    = var.labels
  }

  spec {
    route_name = var.sgtm_service
  }
}
