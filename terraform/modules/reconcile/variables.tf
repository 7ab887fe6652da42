variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run job, its Cloud Scheduler trigger and the report bucket (EU, from the topology module)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of resource names."
  type        = string
}

variable "image" {
  description = "Sidecar image pinned by digest (<registry>/<path>@sha256:<64 hex>); it carries the sgtm command."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest (<registry>/<path>@sha256:<64 hex>) so every run uses the reviewed build."
  }
}

variable "plan_path" {
  description = "SGTM_PLAN: path of the tracking plan inside the image."
  type        = string
  default     = "/app/plan.yaml"
}

variable "firestore_database" {
  description = "Firestore database the sidecar writes (read here)."
  type        = string
}

variable "retention_days" {
  description = "The plan's retention_days: reports are deleted from the bucket this many days after they are written."
  type        = number

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be 1..3650, as in the plan."
  }
}

variable "schedule" {
  description = "Cron schedule of the daily run, in time_zone (after midnight, so yesterday is complete)."
  type        = string
  default     = "30 6 * * *"
}

variable "time_zone" {
  description = "The plan's reconcile.timezone (IANA name); the schedule runs in it."
  type        = string
  default     = "UTC"
}

variable "secret_env" {
  description = "Environment variable name -> Secret Manager secret id, for the order pulls and GA4 credentials the plan names."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.secret_env) : can(regex("^[A-Z_][A-Z0-9_]*$", name))])
    error_message = "secret_env keys must be environment variable names (A-Z, 0-9, _)."
  }
}

variable "pull" {
  description = "Run the order pulls (--pull) of the plan's reconcile.pulls every day."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
}

variable "notification_channel_ids" {
  description = "Monitoring notification channels the out-of-band alert notifies."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the job and keep the bucket's reports."
  type        = bool
  default     = true
}
