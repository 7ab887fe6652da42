data "google_project" "this" {
  project_id = var.project_id
}

locals {
  service_name      = "${var.name_prefix}-sidecar"
  topic_name        = "${var.name_prefix}-events"
  subscription_name = "${var.name_prefix}-delivery"
  pubsub_agent      = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  sidecar_member    = "serviceAccount:${google_service_account.sidecar.email}"
  # A fixed audience breaks the cycle service URL -> subscription -> service env, and the
  # service lists it in custom_audiences so Cloud Run accepts it too.
  push_audience = "https://${local.service_name}.${var.project_id}.sgtm.invalid/v1/deliver"
  # Pub/Sub keeps messages at most 31 days; the plan's retention can be longer.
  message_retention = "${min(var.retention_days, 31) * 86400}s"

  plain_env = merge(var.env, {
    SGTM_PLAN                 = var.plan_path
    SGTM_BACKEND              = "gcp"
    GOOGLE_CLOUD_PROJECT      = var.project_id
    SGTM_PUBSUB_TOPIC         = local.topic_name
    SGTM_PUBSUB_SUBSCRIPTION  = local.subscription_name
    SGTM_FIRESTORE_DATABASE   = var.firestore_database
    SGTM_COLLECT_URL          = var.collect_url
    SGTM_DELIVERY_MODE        = var.delivery_mode
    SGTM_PUSH_AUDIENCE        = local.push_audience
    SGTM_PUSH_SERVICE_ACCOUNT = google_service_account.push.email
    SGTM_RETENTION_DAYS       = tostring(var.retention_days)
    WORKERS                   = tostring(var.gunicorn.workers)
    THREADS                   = tostring(var.gunicorn.threads)
    TIMEOUT                   = tostring(var.gunicorn.timeout)
  })
}

resource "google_service_account" "sidecar" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-sidecar"
  display_name = "sGTM sidecar"
  description  = "Runs the sidecar: publishes and consumes deliveries, reads its secrets, uses Firestore."
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "sGTM Pub/Sub push identity"
  description  = "Identity in the OIDC token Pub/Sub attaches to POST /v1/deliver; holds no other role."
}

# --- Pub/Sub: events topic, delivery subscription with retries, dead letters -------------

resource "google_pubsub_topic" "events" {
  project                    = var.project_id
  name                       = local.topic_name
  labels                     = var.labels
  message_retention_duration = local.message_retention

  message_storage_policy {
    allowed_persistence_regions = var.storage_regions
  }
}

resource "google_pubsub_topic" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-dead-letter"
  labels                     = var.labels
  message_retention_duration = local.message_retention

  message_storage_policy {
    allowed_persistence_regions = var.storage_regions
  }
}

resource "google_pubsub_subscription" "delivery" {
  project                    = var.project_id
  name                       = local.subscription_name
  topic                      = google_pubsub_topic.events.id
  labels                     = var.labels
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = "${min(var.retention_days, 7) * 86400}s"

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  dynamic "push_config" {
    for_each = var.delivery_mode == "push" ? [1] : []
    content {
      push_endpoint = "${google_cloud_run_v2_service.sidecar.uri}/v1/deliver"
      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = local.push_audience
      }
    }
  }

  # Never let an idle subscription expire and silently drop the queue.
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.agent_publishes_dead_letters,
    google_service_account_iam_member.agent_mints_push_tokens,
  ]
}

# Dead letters are kept for inspection and replay; the alert watches its backlog.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "${min(var.retention_days, 7) * 86400}s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "sidecar_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = local.sidecar_member
}

resource "google_pubsub_subscription_iam_member" "sidecar_pulls" {
  count = var.delivery_mode == "pull" ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.delivery.name
  role         = "roles/pubsub.subscriber"
  member       = local.sidecar_member
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter
# topic and acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_forwards_dead_letters" {
  project      = var.project_id
  subscription = google_pubsub_subscription.delivery.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_service_account_iam_member" "agent_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.sidecar.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# --- Firestore: idempotency keys, contexts, ledger, dead letters --------------------------

resource "google_firestore_database" "main" {
  project                 = var.project_id
  name                    = var.firestore_database
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = var.deletion_protection ? "ABANDON" : "DELETE"
}

# The TTL policy deletes a document once its expire_at timestamp has passed; the sidecar
# sets expire_at = write time + retention_days, so the plan's retention governs both.
resource "google_firestore_field" "ttl" {
  for_each = toset(var.ttl_collections)

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value
  field      = "expire_at"

  ttl_config {}

  # Nothing queries expire_at; skipping its index saves writes on every document.
  index_config {}
}

# Firestore has no per-database IAM; a condition keeps the grant to this database.
resource "google_project_iam_member" "sidecar_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.sidecar_member

  condition {
    title       = "only-${var.firestore_database}"
    description = "Limits Firestore access to the sidecar's database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}

resource "google_secret_manager_secret_iam_member" "sidecar_reads" {
  for_each = toset(values(var.secret_env))

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = local.sidecar_member
}

# --- The service ------------------------------------------------------------------------

resource "google_cloud_run_v2_service" "sidecar" {
  project             = var.project_id
  name                = local.service_name
  location            = var.region
  ingress             = var.ingress
  labels              = merge(var.labels, { component = "sidecar" })
  deletion_protection = var.deletion_protection
  custom_audiences    = [local.push_audience]
  # Webhooks (Shopify, WooCommerce, Stripe) and browsers cannot present Google identities;
  # the sidecar authenticates them by signature, and /v1/deliver by the push OIDC token.
  invoker_iam_disabled = true

  template {
    service_account = google_service_account.sidecar.email
    labels          = merge(var.labels, { component = "sidecar" })
    annotations     = { "sgtm-companion/secrets-revision" = var.secrets_revision }

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # A pulling worker runs between requests, so it needs CPU outside request handling.
        cpu_idle = var.delivery_mode == "push"
      }

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      # Ready means "can accept durably" (/readyz checks the outbox takes writes); alive
      # means the process answers (/healthz never touches storage, so a slow disk does not
      # get the instance killed).
      startup_probe {
        http_get {
          path = "/readyz"
        }
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 24
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.sidecar_reads]

  # `sgtm rollout` moves traffic between revisions and gcloud stamps client fields; neither is
  # Terraform's to undo.
  lifecycle {
    ignore_changes = [traffic, client, client_version]
  }
}
