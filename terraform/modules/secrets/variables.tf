variable "project_id" {
  description = "Project that holds the secrets."
  type        = string
}

variable "secrets" {
  description = "Secrets to create, keyed by secret id, each with a description. Terraform creates the containers only; values are added with `gcloud secrets versions add` so they never enter the state or the repository."
  type        = map(string)

  validation {
    condition     = alltrue([for id in keys(var.secrets) : can(regex("^[A-Za-z0-9_-]{1,255}$", id))])
    error_message = "secret ids may contain only letters, digits, - and _ (at most 255 characters)."
  }
}

variable "replica_locations" {
  description = "Regions that store the secret payloads (user-managed replication keeps them in the EU)."
  type        = list(string)

  validation {
    condition     = length(var.replica_locations) > 0
    error_message = "replica_locations needs at least one region."
  }
}

variable "labels" {
  description = "Labels applied to every secret."
  type        = map(string)
  default     = {}
}
