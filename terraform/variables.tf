# Validation conditions here use only literals and other variables, so
# tests/terraform/test_terraform_cli.py can exercise this file alone with `terraform test`
# (no provider needed).

variable "project_id" {
  description = "Google Cloud project to deploy into (must exist, with billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: lowercase letters, digits, hyphens; starts with a letter), not a project name or number."
  }
}

variable "region" {
  description = "Region of every regional resource. Must be in an EU member state unless allow_non_eu_region is true."
  type        = string
  default     = "europe-west1"

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
  description = "Explicit override: allow region, firestore_location and bigquery_location outside the EU."
  type        = bool
  default     = false
}

variable "domain" {
  description = "The shop's domain (e.g. shop.example.com); the collector is served at <collect_subdomain>.<domain>."
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
  description = "load_balancer: global HTTPS load balancer with Cloud Armor that routes /v1/* to the sidecar; domain_mapping: cheaper Cloud Run domain mapping to sGTM (regions that offer it only; no Cloud Armor)."
  type        = string
  default     = "load_balancer"

  validation {
    condition     = contains(["load_balancer", "domain_mapping"], var.edge_mode)
    error_message = "edge_mode must be one of: load_balancer, domain_mapping."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "sgtm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,12}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-14 characters of lowercase letters, digits and hyphens, starting with a letter (service account ids append up to 8 characters and must stay within 30)."
  }
}

variable "labels" {
  description = "Extra labels for every resource that takes labels (app=sgtm-companion is always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "label keys must start with a lowercase letter; keys and values may contain only lowercase letters, digits, _ and - (at most 63 characters)."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services and the Firestore database from `terraform destroy`."
  type        = bool
  default     = true
}

variable "secrets_revision" {
  description = "Any string. Secrets reach the services at instance start; after adding secret versions (key rotation, new CONTAINER_CONFIG), change this value and apply to roll new revisions of sGTM and the sidecar."
  type        = string
  default     = "1"
}

# --- sGTM -------------------------------------------------------------------------------------

variable "sgtm_image" {
  description = "Google's tagging server image pinned by digest: gcr.io/cloud-tagging-10302018/gtm-cloud-image@sha256:<digest>. See docs/deploy.md for how to read and move the pin."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.sgtm_image))
    error_message = "sgtm_image must be pinned by digest (<registry>/<path>@sha256:<64 hex>): a tag such as :stable is resolved once when a revision is created and then silently stops updating."
  }

  validation {
    condition     = !endswith(var.sgtm_image, "@sha256:0000000000000000000000000000000000000000000000000000000000000000")
    error_message = "sgtm_image still has the example's placeholder digest; put the digest of the current gtm-cloud-image:stable (docs/deploy.md, step 2)."
  }
}

variable "sgtm_min_instances" {
  description = "Minimum tagging server instances (common production setups keep 2-3 warm; 0 scales to zero with cold starts)."
  type        = number
  default     = 1

  validation {
    condition     = var.sgtm_min_instances >= 0 && var.sgtm_min_instances <= 100
    error_message = "sgtm_min_instances must be between 0 and 100."
  }
}

variable "sgtm_max_instances" {
  description = "Maximum tagging server instances."
  type        = number
  default     = 10

  validation {
    condition     = var.sgtm_max_instances >= 1 && var.sgtm_max_instances <= 1000
    error_message = "sgtm_max_instances must be between 1 and 1000."
  }
}

variable "sgtm_cpu" {
  description = "vCPU per tagging server instance."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.sgtm_cpu)
    error_message = "sgtm_cpu must be one of: 1, 2, 4, 6, 8."
  }
}

variable "sgtm_memory" {
  description = "Memory per tagging server instance (Mi or Gi)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.sgtm_memory))
    error_message = "sgtm_memory must look like 512Mi or 2Gi."
  }
}

variable "client_path" {
  description = "Path of the generated sGTM client that receives the sidecar's signed batches (SGTM_COLLECT_URL = https://collect.<domain><client_path>)."
  type        = string
  default     = "/s2s/events"
}

# --- Sidecar ----------------------------------------------------------------------------------

variable "sidecar_image" {
  description = "Sidecar image pinned by digest (<registry>/<path>@sha256:<digest>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.sidecar_image))
    error_message = "sidecar_image must be pinned by digest (<registry>/<path>@sha256:<64 hex>)."
  }
}

variable "sidecar_plan_path" {
  description = "SGTM_PLAN: where the tracking plan sits inside the sidecar image."
  type        = string
  default     = "/app/plan.yaml"
}

variable "sidecar_secret_env" {
  description = "Every secret environment variable the tracking plan names (the sidecar refuses to start without them), except the delivery keyset: env var name -> Secret Manager secret id. Terraform creates each secret empty. Generate it with terraform/tfvars_from_plan.py."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.sidecar_secret_env) : can(regex("^[A-Z_][A-Z0-9_]*$", name))])
    error_message = "sidecar_secret_env keys must be environment variable names (A-Z, 0-9, _)."
  }

  validation {
    condition     = !contains(keys(var.sidecar_secret_env), var.delivery_keys_env)
    error_message = "the delivery keyset (delivery_keys_env) comes from delivery_keys_secret_id and is shared with sGTM; leave it out of sidecar_secret_env."
  }
}

variable "delivery_keys_env" {
  description = "Environment variable the plan names for the delivery keyset (delivery.keys); the sidecar reads the keyset from it."
  type        = string
  default     = "SGTM_DELIVERY_KEYS"

  validation {
    condition     = can(regex("^[A-Z_][A-Z0-9_]*$", var.delivery_keys_env))
    error_message = "delivery_keys_env must be an environment variable name (A-Z, 0-9, _)."
  }
}

variable "sidecar_env" {
  description = "Extra plain (non-secret) sidecar environment variables, e.g. SGTM_LOG_LEVEL. Secrets go in sidecar_secret_env."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.sidecar_env) : can(regex("^[A-Z_][A-Z0-9_]*$", name)) && !can(regex("SECRET|PASSWORD|TOKEN|_KEY|KEYS$|CREDENTIAL", name))])
    error_message = "sidecar_env keys must be environment variable names, and names that look like secrets (SECRET, PASSWORD, TOKEN, KEY, CREDENTIAL) belong in sidecar_secret_env so their values come from Secret Manager."
  }
}

variable "container_config_secret_id" {
  description = "Secret holding sGTM's CONTAINER_CONFIG string."
  type        = string
  default     = "sgtm-container-config"
}

variable "delivery_keys_secret_id" {
  description = "Secret holding the delivery keyset {\"keys\": {\"<kid>\": \"<base64>\"}}: SGTM_DELIVERY_KEYS in the sidecar, the SGTM_CREDENTIALS file in sGTM."
  type        = string
  default     = "sgtm-delivery-keys"
}

variable "sidecar_min_instances" {
  description = "Minimum sidecar instances (at least 1 with delivery_mode = pull)."
  type        = number
  default     = 1

  validation {
    condition     = var.sidecar_min_instances >= 0 && var.sidecar_min_instances <= 100
    error_message = "sidecar_min_instances must be between 0 and 100."
  }
}

variable "sidecar_max_instances" {
  description = "Maximum sidecar instances."
  type        = number
  default     = 10

  validation {
    condition     = var.sidecar_max_instances >= 1 && var.sidecar_max_instances <= 1000
    error_message = "sidecar_max_instances must be between 1 and 1000."
  }
}

variable "sidecar_cpu" {
  description = "vCPU per sidecar instance."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.sidecar_cpu)
    error_message = "sidecar_cpu must be one of: 1, 2, 4, 6, 8."
  }
}

variable "sidecar_memory" {
  description = "Memory per sidecar instance (Mi or Gi)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.sidecar_memory))
    error_message = "sidecar_memory must look like 512Mi or 2Gi."
  }
}

variable "gunicorn" {
  description = "Sidecar gunicorn WORKERS, THREADS and TIMEOUT (seconds); Cloud Run sets PORT."
  type = object({
    workers = optional(number, 2)
    threads = optional(number, 4)
    timeout = optional(number, 30)
  })
  default = {}

  validation {
    condition     = var.gunicorn.workers >= 1 && var.gunicorn.threads >= 1 && var.gunicorn.timeout >= 1 && var.gunicorn.timeout <= 3600
    error_message = "gunicorn needs workers >= 1, threads >= 1 and 1 <= timeout <= 3600."
  }
}

variable "delivery_mode" {
  description = "push: Pub/Sub pushes to POST /v1/deliver with an OIDC token of the push service account; pull: the sidecar pulls (CPU stays allocated)."
  type        = string
  default     = "push"

  validation {
    condition     = contains(["push", "pull"], var.delivery_mode)
    error_message = "delivery_mode must be one of: push, pull."
  }
}

variable "max_delivery_attempts" {
  description = "Delivery attempts before a message goes to the dead-letter topic (5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

# --- Data ---------------------------------------------------------------------------------------

variable "retention_days" {
  description = "The tracking plan's retention_days: log bucket retention, audit table expiry, and the horizon the sidecar writes into the Firestore TTL field expire_at. Keep it equal to the plan."
  type        = number
  default     = 395

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days between 1 and 3650 (Cloud Logging's range)."
  }
}

variable "firestore_location" {
  description = "Firestore location: eur3 (EU multi-region) or an EU region."
  type        = string
  default     = "eur3"

  validation {
    condition = var.allow_non_eu_region || contains([
      "eur3", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
      "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
      "europe-west10", "europe-west12",
    ], var.firestore_location)
    error_message = "firestore_location must be eur3 or an EU region; set allow_non_eu_region = true to override."
  }
}

variable "firestore_database" {
  description = "Firestore database id (SGTM_FIRESTORE_DATABASE)."
  type        = string
  default     = "sgtm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be 4-63 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bigquery_location" {
  description = "Location of the consent audit dataset: EU or an EU region."
  type        = string
  default     = "EU"

  validation {
    condition = var.allow_non_eu_region || contains([
      "EU", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
      "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
      "europe-west10", "europe-west12",
    ], var.bigquery_location)
    error_message = "bigquery_location must be EU or an EU region; set allow_non_eu_region = true to override."
  }
}

# --- Edge and observability ---------------------------------------------------------------------

variable "rate_limit" {
  description = "Cloud Armor requests per minute per client IP: sidecar_per_minute for /v1/*, batches_per_minute for the sidecar's signed batches to client_path (they share Cloud Run egress addresses), sgtm_per_minute for the rest."
  type = object({
    sidecar_per_minute = optional(number, 300)
    batches_per_minute = optional(number, 6000)
    sgtm_per_minute    = optional(number, 1200)
  })
  default = {}
}

variable "log_record_types" {
  description = "jsonPayload.type values of the sidecar's audit and failure log records (consent_decision, delivery_failure, dead_letter, webhook_quarantined); change them only if the sidecar names its records differently."
  type = object({
    consent_decision = optional(string, "consent_decision")
    delivery_failure = optional(string, "delivery_failure")
    dead_letter      = optional(string, "dead_letter")
    quarantined      = optional(string, "webhook_quarantined")
  })
  default = {}
}

variable "notification_emails" {
  description = "Email addresses that receive alerts."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "notification_channel_ids" {
  description = "Existing Cloud Monitoring notification channels (projects/<p>/notificationChannels/<id>) that also receive alerts."
  type        = list(string)
  default     = []
}

variable "alert_thresholds" {
  description = "Alert thresholds (see modules/observability)."
  type = object({
    delivery_failures_per_5m  = optional(number, 10)
    server_error_ratio        = optional(number, 0.02)
    consent_blocked_jump      = optional(number, 1.5)
    consent_decisions_minimum = optional(number, 0.05)
  })
  default = {}
}

variable "reconcile_schedule" {
  description = "Cron schedule of the daily sgtm reconcile job, in reconcile_time_zone."
  type        = string
  default     = "30 6 * * *"
}

variable "reconcile_time_zone" {
  description = "The plan's reconcile.timezone (IANA name): the shop's days and the schedule's clock."
  type        = string
  default     = "UTC"
}

variable "reconcile_pull" {
  description = "Let the daily job pull orders from the platforms (the plan's reconcile.pulls) to find lost webhooks."
  type        = bool
  default     = false
}

variable "reconcile_secret_env" {
  description = "Environment variable name -> Secret Manager secret id for the order pulls' and GA4's credentials."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.reconcile_secret_env) : can(regex("^[A-Z_][A-Z0-9_]*$", name))])
    error_message = "reconcile_secret_env keys must be environment variable names (A-Z, 0-9, _)."
  }
}
