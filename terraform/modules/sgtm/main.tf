locals {
  credentials_file = "${var.credentials_mount_dir}/keys.json"
  # Secrets are read at instance start; changing this value rolls a new revision so the
  # services pick up new secret versions (docs/deploy.md, rotating keys).
  revision_annotations = { "sgtm-companion/secrets-revision" = var.secrets_revision }
}

# One identity per server: the preview server never needs the delivery keyset.
resource "google_service_account" "tagging" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tagging"
  display_name = "sGTM tagging server"
  description  = "Runs the sGTM tagging server; reads CONTAINER_CONFIG and the delivery keyset."
}

resource "google_service_account" "preview" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-preview"
  display_name = "sGTM preview server"
  description  = "Runs the sGTM preview server; reads CONTAINER_CONFIG only."
}

resource "google_secret_manager_secret_iam_member" "tagging_config" {
  project   = var.project_id
  secret_id = var.container_config_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.tagging.email}"
}

resource "google_secret_manager_secret_iam_member" "tagging_credentials" {
  project   = var.project_id
  secret_id = var.credentials_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.tagging.email}"
}

resource "google_secret_manager_secret_iam_member" "preview_config" {
  project   = var.project_id
  secret_id = var.container_config_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.preview.email}"
}

resource "google_cloud_run_v2_service" "preview" {
  project             = var.project_id
  name                = "${var.name_prefix}-preview"
  location            = var.region
  ingress             = var.preview_ingress
  labels              = merge(var.labels, { component = "sgtm-preview" })
  deletion_protection = var.deletion_protection
  # GTM preview sessions reach the server without Google credentials.
  invoker_iam_disabled = true

  template {
    service_account = google_service_account.preview.email
    labels          = merge(var.labels, { component = "sgtm-preview" })
    annotations     = local.revision_annotations

    # Preview state lives in memory: a second instance would split sessions.
    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }

    containers {
      image = var.image

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      env {
        name  = "RUN_AS_PREVIEW_SERVER"
        value = "true"
      }
      env {
        name = "CONTAINER_CONFIG"
        value_source {
          secret_key_ref {
            secret  = var.container_config_secret
            version = "latest"
          }
        }
      }

      # sGTM answers GET /healthy with "ok" once its container config is loaded (Google's
      # manual-setup guide uses it as the health check path): an HTTP probe on it, not merely
      # an open port, so a revision that cannot load its config never takes traffic, and a
      # hung server is restarted.
      startup_probe {
        http_get {
          path = "/healthy"
          port = 8080
        }
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 24
      }
      liveness_probe {
        http_get {
          path = "/healthy"
          port = 8080
        }
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.preview_config]

  # `sgtm rollout` moves traffic between revisions and gcloud stamps client fields; neither is
  # Terraform's to undo.
  lifecycle {
    ignore_changes = [traffic, client, client_version]
  }
}

resource "google_cloud_run_v2_service" "tagging" {
  project             = var.project_id
  name                = "${var.name_prefix}-tagging"
  location            = var.region
  ingress             = var.ingress
  labels              = merge(var.labels, { component = "sgtm-tagging" })
  deletion_protection = var.deletion_protection
  # Browsers and the sidecar call it without Google credentials; the generated client checks
  # the HMAC signature of sidecar batches itself.
  invoker_iam_disabled = true

  template {
    service_account = google_service_account.tagging.email
    labels          = merge(var.labels, { component = "sgtm-tagging" })
    annotations     = local.revision_annotations

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
      }

      env {
        name = "CONTAINER_CONFIG"
        value_source {
          secret_key_ref {
            secret  = var.container_config_secret
            version = "latest"
          }
        }
      }
      env {
        name  = "PREVIEW_SERVER_URL"
        value = google_cloud_run_v2_service.preview.uri
      }
      env {
        name  = "SGTM_CREDENTIALS"
        value = local.credentials_file
      }

      volume_mounts {
        name       = "sgtm-credentials"
        mount_path = var.credentials_mount_dir
      }

      startup_probe {
        http_get {
          path = "/healthy"
          port = 8080
        }
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 24
      }
      liveness_probe {
        http_get {
          path = "/healthy"
          port = 8080
        }
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }

    # Mounted, not an env var: the tagging server reads a key file named by SGTM_CREDENTIALS.
    # Rotation still deploys a new revision (docs/deploy.md) because sGTM may cache the file.
    volumes {
      name = "sgtm-credentials"
      secret {
        secret = var.credentials_secret
        items {
          version = "latest"
          path    = "keys.json"
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.tagging_config,
    google_secret_manager_secret_iam_member.tagging_credentials,
  ]

  # `sgtm rollout` moves traffic between revisions and gcloud stamps client fields; neither is
  # Terraform's to undo.
  lifecycle {
    ignore_changes = [traffic, client, client_version]
  }
}
