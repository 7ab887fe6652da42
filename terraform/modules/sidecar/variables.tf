variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of resource names."
  type        = string
}

variable "image" {
  description = "Sidecar image pinned by digest (<registry>/<path>@sha256:<64 hex>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest (<registry>/<path>@sha256:<64 hex>) so every revision runs the reviewed build."
  }
}

variable "plan_path" {
  description = "SGTM_PLAN: path of the tracking plan inside the image."
  type        = string
  default     = "/app/plan.yaml"
}

variable "collect_url" {
  description = "SGTM_COLLECT_URL: the sGTM client endpoint that receives signed batches."
  type        = string
}

variable "secret_env" {
  description = "Environment variable name -> Secret Manager secret id (webhook secrets, keysets, destination credentials)."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.secret_env) : can(regex("^[A-Z_][A-Z0-9_]*$", name))])
    error_message = "secret_env keys must be environment variable names (A-Z, 0-9, _)."
  }
}

variable "env" {
  description = "Extra plain (non-secret) environment variables."
  type        = map(string)
  default     = {}
}

variable "delivery_mode" {
  description = "push: Pub/Sub pushes to POST /v1/deliver with an OIDC token; pull: the sidecar pulls (needs always-allocated CPU)."
  type        = string
  default     = "push"

  validation {
    condition     = contains(["push", "pull"], var.delivery_mode)
    error_message = "delivery_mode must be one of: push, pull."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries before a message moves to the dead-letter topic (Pub/Sub allows 5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "retry_minimum_backoff" {
  description = "Shortest redelivery delay, as a duration in seconds (\"10s\")."
  type        = string
  default     = "10s"
}

variable "retry_maximum_backoff" {
  description = "Longest redelivery delay (Pub/Sub caps it at 600s)."
  type        = string
  default     = "600s"
}

variable "ack_deadline_seconds" {
  description = "Seconds the sidecar has to acknowledge a delivery; keep it above the gunicorn timeout."
  type        = number
  default     = 60
}

variable "retention_days" {
  description = "The plan's retention_days: how long unacknowledged and dead-lettered messages are kept (capped at Pub/Sub's 31 days) and what the sidecar writes into expire_at."
  type        = number
}

variable "firestore_database" {
  description = "Firestore database id."
  type        = string
  default     = "sgtm"
}

variable "firestore_location" {
  description = "Firestore location (EU)."
  type        = string
}

variable "ttl_collections" {
  description = "Firestore collection groups whose documents expire at their expire_at field: every collection the sidecar's gcp store writes (events holds the ledger rows), plus ledger for stores that keep it apart."
  type        = list(string)
  default     = ["contexts", "dead_letters", "events", "idempotency", "ledger", "quarantine"]
}

variable "storage_regions" {
  description = "Regions where Pub/Sub may persist messages."
  type        = list(string)
}

variable "min_instances" {
  description = "Minimum sidecar instances."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Maximum sidecar instances."
  type        = number
  default     = 10
}

variable "cpu" {
  description = "vCPU per sidecar instance."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory per sidecar instance."
  type        = string
  default     = "512Mi"
}

variable "gunicorn" {
  description = "gunicorn WORKERS, THREADS and TIMEOUT (seconds)."
  type = object({
    workers = optional(number, 2)
    threads = optional(number, 4)
    timeout = optional(number, 30)
  })
  default = {}
}

variable "ingress" {
  description = "Ingress of the sidecar (from the topology module)."
  type        = string

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be one of: INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the service and the Firestore database."
  type        = bool
  default     = true
}

variable "secrets_revision" {
  description = "Any string; change it to roll a new revision that reads the latest secret versions."
  type        = string
  default     = "1"
}
