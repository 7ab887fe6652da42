variable "region" {
  description = "Cloud Run region for every regional resource."
  type        = string

  validation {
    condition = var.allow_non_eu_region || contains([
      "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1",
      "europe-west3", "europe-west4", "europe-west8", "europe-west9", "europe-west10",
      "europe-west12",
    ], var.region)
    error_message = "region must be a Google Cloud region in an EU member state: europe-central2, europe-north1, europe-north2, europe-southwest1, europe-west1, europe-west3, europe-west4, europe-west8, europe-west9, europe-west10, europe-west12 (europe-west2 London and europe-west6 Zurich are outside the EU). Set allow_non_eu_region = true to deploy elsewhere on purpose."
  }
}

variable "allow_non_eu_region" {
  description = "Explicit override that allows a region (and Firestore location) outside the EU."
  type        = bool
  default     = false
}

variable "domain" {
  description = "The shop's domain; the collector is served at <collect_subdomain>.<domain>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain)) && length(var.domain) <= 253
    error_message = "domain must be a lowercase DNS hostname such as shop.example.com (no scheme, path, port, trailing dot or wildcard)."
  }
}

variable "collect_subdomain" {
  description = "Left-most label of the collector hostname."
  type        = string
  default     = "collect"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.collect_subdomain))
    error_message = "collect_subdomain must be a single lowercase DNS label such as collect."
  }
}

variable "edge_mode" {
  description = "How collect.<domain> reaches the services: load_balancer (global HTTPS load balancer, Cloud Armor, path routing) or domain_mapping (Cloud Run domain mapping, cheaper, no Cloud Armor)."
  type        = string
  default     = "load_balancer"

  validation {
    condition     = contains(["load_balancer", "domain_mapping"], var.edge_mode)
    error_message = "edge_mode must be one of: load_balancer, domain_mapping."
  }

  validation {
    condition = var.edge_mode != "domain_mapping" || contains([
      "asia-east1", "asia-northeast1", "asia-southeast1", "europe-north1", "europe-west1",
      "europe-west4", "us-central1", "us-east1", "us-east4", "us-west1",
    ], var.region)
    error_message = "Cloud Run domain mappings are offered only in asia-east1, asia-northeast1, asia-southeast1, europe-north1, europe-west1, europe-west4, us-central1, us-east1, us-east4, us-west1; use edge_mode = \"load_balancer\" in other regions."
  }
}

variable "client_path" {
  description = "Path of the generated sGTM client that receives signed batches from the sidecar."
  type        = string
  default     = "/s2s/events"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._~/-]*$", var.client_path)) && !startswith(var.client_path, "/v1/")
    error_message = "client_path must be an absolute URL path (like /s2s/events) outside /v1/, which the load balancer sends to the sidecar."
  }
}

variable "firestore_location" {
  description = "Firestore location: the EU multi-region eur3 or an EU region."
  type        = string
  default     = "eur3"

  validation {
    condition = var.allow_non_eu_region || contains([
      "eur3", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
      "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
      "europe-west10", "europe-west12",
    ], var.firestore_location)
    error_message = "firestore_location must be eur3 or an EU region (see region); set allow_non_eu_region = true to override."
  }
}

variable "bigquery_location" {
  description = "BigQuery location of the consent audit dataset: the EU multi-region or an EU region."
  type        = string
  default     = "EU"

  validation {
    condition = var.allow_non_eu_region || contains([
      "EU", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
      "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
      "europe-west10", "europe-west12",
    ], var.bigquery_location)
    error_message = "bigquery_location must be EU or an EU region (see region); set allow_non_eu_region = true to override."
  }
}
