locals {
  job_name = "${var.name_prefix}-reconcile"
  member   = "serviceAccount:${google_service_account.reconcile.email}"
  # Written by the job through the Cloud Storage volume; {day} is the day reconciled.
  args = concat(
    ["reconcile", "--format", "json", "--log-json", "--json", "/reports/{day}.json", "--html", "/reports/{day}.html"],
    var.pull ? ["--pull"] : [],
  )
}

resource "google_service_account" "reconcile" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-reconcile"
  display_name = "sGTM daily reconciliation"
  description  = "Runs sgtm reconcile: reads Firestore, writes reports to its bucket."
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-reconcile-cron"
  display_name = "sGTM reconciliation trigger"
  description  = "Identity of the Cloud Scheduler job that runs the reconciliation job; holds no other role."
}

# --- Reports: an EU bucket that keeps them for the plan's retention --------------------------

resource "google_storage_bucket" "reports" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-reconcile"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = var.labels

  lifecycle_rule {
    condition {
      age = var.retention_days
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "writer" {
  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectUser"
  member = local.member
}

# --- Reading the ledger ---------------------------------------------------------------------

# Firestore has no per-database IAM; a condition keeps the read grant to this database.
resource "google_project_iam_member" "firestore_read" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = local.member

  condition {
    title       = "only-${var.firestore_database}"
    description = "Limits the reconciliation's Firestore reads to the sidecar's database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}

# The conversion scan: events of one name in an accepted_at range (sidecar/store/reconcile_gcp.py).
resource "google_firestore_index" "events_by_name_and_time" {
  project     = var.project_id
  database    = var.firestore_database
  collection  = "events"
  query_scope = "COLLECTION"

  fields {
    field_path = "event_name"
    order      = "ASCENDING"
  }
  fields {
    field_path = "accepted_at"
    order      = "ASCENDING"
  }
}

resource "google_secret_manager_secret_iam_member" "reads" {
  for_each = toset(values(var.secret_env))

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

# --- The job and its daily trigger -----------------------------------------------------------

resource "google_cloud_run_v2_job" "reconcile" {
  project             = var.project_id
  name                = local.job_name
  location            = var.region
  labels              = var.labels
  deletion_protection = var.deletion_protection

  template {
    labels = var.labels
    template {
      service_account = google_service_account.reconcile.email
      max_retries     = 1
      timeout         = "900s"

      containers {
        image   = var.image
        command = ["sgtm"]
        args    = local.args

        env {
          name  = "SGTM_PLAN"
          value = var.plan_path
        }
        env {
          name  = "SGTM_BACKEND"
          value = "gcp"
        }
        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }
        env {
          name  = "SGTM_FIRESTORE_DATABASE"
          value = var.firestore_database
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

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }

        volume_mounts {
          name       = "reports"
          mount_path = "/reports"
        }
      }

      volumes {
        name = "reports"
        gcs {
          bucket    = google_storage_bucket.reports.name
          read_only = false
        }
      }
    }
  }

  depends_on = [google_storage_bucket_iam_member.writer, google_secret_manager_secret_iam_member.reads]
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.reconcile.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "daily" {
  project          = var.project_id
  name             = "${local.job_name}-daily"
  region           = var.region
  description      = "Runs sgtm reconcile for yesterday, in the shop's time zone."
  schedule         = var.schedule
  time_zone        = var.time_zone
  attempt_deadline = "320s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.reconcile.name}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs]
}

# --- A destination out of its band: metric and alert ----------------------------------------

resource "google_logging_metric" "out_of_band" {
  project     = var.project_id
  name        = "${replace(var.name_prefix, "-", "_")}_reconcile_out_of_band"
  description = "Destination-days sgtm reconcile found outside their coverage band or over their latency SLA."
  filter      = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${local.job_name}\" AND jsonPayload.type=\"reconcile_band\" AND severity=ERROR"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "destination"
      value_type  = "STRING"
      description = "The plan's destination name."
    }
  }

  label_extractors = {
    destination = "EXTRACT(jsonPayload.destination)"
  }
}

resource "google_monitoring_alert_policy" "out_of_band" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: a destination left its reconciliation band"
  combiner              = "OR"
  notification_channels = var.notification_channel_ids
  user_labels           = var.labels

  conditions {
    display_name = "reconcile_band records with severity ERROR"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.out_of_band.name}\" AND resource.type=\"cloud_run_job\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.destination"]
      }
    }
  }

  documentation {
    content   = "sgtm reconcile found a destination outside its coverage band or over its latency SLA. Open the day's report in the reconciliation bucket and follow the failed orders with `sgtm ledger show`."
    mime_type = "text/markdown"
  }
}
