variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of service and service account names."
  type        = string
}

variable "image" {
  description = "Google's gtm-cloud-image pinned by digest (gcr.io/cloud-tagging-10302018/gtm-cloud-image@sha256:<64 hex>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest (<registry>/<path>@sha256:<64 hex>); tags such as :stable stop updating once a revision exists."
  }
}

variable "container_config_secret" {
  description = "Secret id holding the CONTAINER_CONFIG string from the server container's admin page."
  type        = string
}

variable "credentials_secret" {
  description = "Secret id holding the delivery keyset JSON {\"keys\": {\"<kid>\": \"<base64>\"}}, mounted as the SGTM_CREDENTIALS file."
  type        = string
}

variable "credentials_mount_dir" {
  description = "Directory where the keyset file is mounted; SGTM_CREDENTIALS points at keys.json inside it."
  type        = string
  default     = "/secrets/sgtm"
}

variable "min_instances" {
  description = "Minimum tagging server instances (common production setups keep 2-3 warm; 0 scales to zero with cold starts)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 100
    error_message = "min_instances must be between 0 and 100."
  }
}

variable "max_instances" {
  description = "Maximum tagging server instances."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances must be between 1 and 1000."
  }
}

variable "cpu" {
  description = "vCPU per tagging server instance (Cloud Run limit syntax, e.g. \"1\")."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory per tagging server instance (e.g. \"512Mi\")."
  type        = string
  default     = "512Mi"
}

variable "ingress" {
  description = "Ingress of the tagging server (from the topology module)."
  type        = string

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be one of: INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "preview_ingress" {
  description = "Ingress of the preview server (from the topology module)."
  type        = string

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.preview_ingress)
    error_message = "preview_ingress must be one of: INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the Cloud Run services."
  type        = bool
  default     = true
}

variable "secrets_revision" {
  description = "Any string; change it to roll new revisions that read the latest secret versions."
  type        = string
  default     = "1"
}
