variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of resource names (log bucket, sinks, metrics, dataset)."
  type        = string
}

variable "log_bucket_location" {
  description = "Location of the log bucket (an EU region)."
  type        = string
}

variable "bigquery_location" {
  description = "Location of the consent audit dataset (EU)."
  type        = string
}

variable "retention_days" {
  description = "The plan's retention_days: log bucket retention and audit table expiry."
  type        = number

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be between 1 and 3650 (Cloud Logging's range)."
  }
}

variable "log_record_types" {
  description = "jsonPayload.type of the sidecar's structured log records: consent decisions (audited in BigQuery, counted), delivery failures and dead letters (counted, alerted on)."
  type = object({
    consent_decision = optional(string, "consent_decision")
    delivery_failure = optional(string, "delivery_failure")
    dead_letter      = optional(string, "dead_letter")
    quarantined      = optional(string, "webhook_quarantined")
  })
  default = {}
}

variable "services" {
  description = "Cloud Run service names whose logs are routed to the EU bucket and watched."
  type        = list(string)
}

variable "exclude_from_default_bucket" {
  description = "Keep the services' logs out of the _Default bucket (its location is global unless the organisation set one), so the EU bucket holds the only copy."
  type        = bool
  default     = true
}

variable "uptime_checks" {
  description = "Uptime checks: name -> {host, path}. HTTPS on port 443."
  type = map(object({
    host = string
    path = string
  }))
}

variable "dead_letter_subscription" {
  description = "Pub/Sub subscription on the dead-letter topic, watched for a growing backlog."
  type        = string
}

variable "notification_emails" {
  description = "Email addresses that receive alerts (an email channel is created for each)."
  type        = list(string)
  default     = []
}

variable "notification_channel_ids" {
  description = "Existing notification channel ids (projects/<p>/notificationChannels/<id>) to alert as well."
  type        = list(string)
  default     = []
}

variable "thresholds" {
  description = "Alert thresholds: delivery failures per 5 minutes, 5xx share of requests, and how many times the consent-blocked share may grow over the previous day's before alerting."
  type = object({
    delivery_failures_per_5m  = optional(number, 10)
    server_error_ratio        = optional(number, 0.02)
    consent_blocked_jump      = optional(number, 1.5)
    consent_decisions_minimum = optional(number, 0.05)
  })
  default = {}
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
}

variable "data_access_services" {
  description = "Services whose Data Access audit logs (DATA_READ, DATA_WRITE) are enabled and routed to the EU log bucket for the access review."
  type        = list(string)
  default = [
    "bigquery.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}
