variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services (serverless NEGs and domain mappings live there)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of resource names."
  type        = string
}

variable "mode" {
  description = "load_balancer or domain_mapping (validated by the topology module)."
  type        = string

  validation {
    condition     = contains(["load_balancer", "domain_mapping"], var.mode)
    error_message = "mode must be one of: load_balancer, domain_mapping."
  }
}

variable "hostname" {
  description = "collect.<domain>."
  type        = string
}

variable "sgtm_service" {
  description = "Cloud Run service name of the sGTM tagging server (default route)."
  type        = string
}

variable "sidecar_service" {
  description = "Cloud Run service name of the sidecar (receives /v1/*)."
  type        = string
}

variable "client_path" {
  description = "Path of the generated sGTM client that receives the sidecar's signed batches."
  type        = string
  default     = "/s2s/events"
}

variable "rate_limit" {
  description = "Cloud Armor per-client-IP limits, in requests per minute: the sidecar's /v1/* paths, signed batches to client_path, and everything else (sGTM)."
  type = object({
    sidecar_per_minute = optional(number, 300)
    batches_per_minute = optional(number, 6000)
    sgtm_per_minute    = optional(number, 1200)
  })
  default = {}

  validation {
    condition     = var.rate_limit.sidecar_per_minute >= 1 && var.rate_limit.batches_per_minute >= 1 && var.rate_limit.sgtm_per_minute >= 1
    error_message = "rate limits must be at least 1 request per minute."
  }
}

variable "log_sample_rate" {
  description = "Share of load balancer requests logged (0-1)."
  type        = number
  default     = 0.1

  validation {
    condition     = var.log_sample_rate >= 0 && var.log_sample_rate <= 1
    error_message = "log_sample_rate must be between 0 and 1."
  }
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
}
