locals {
  service_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for s in var.services : "\"${s}\""])})"
  channels = concat(
    [for c in google_monitoring_notification_channel.email : c.id],
    var.notification_channel_ids,
  )
  # Log-based metric names become PromQL names by this rule (Cloud Monitoring PromQL mapping).
  promql_prefix = "logging_googleapis_com:user_"
  metrics = {
    delivery_failures = {
      filter      = "jsonPayload.type=\"${var.log_record_types.delivery_failure}\""
      description = "Deliveries to a destination that failed (will be retried)."
    }
    dead_letters = {
      filter      = "jsonPayload.type=\"${var.log_record_types.dead_letter}\""
      description = "Events given up after the last delivery attempt."
    }
    quarantined = {
      filter      = "jsonPayload.type=\"${var.log_record_types.quarantined}\""
      description = "Authentic webhook bodies that could not be mapped, kept for `sgtm quarantine replay`."
    }
    consent_decisions = {
      filter      = "jsonPayload.type=\"${var.log_record_types.consent_decision}\""
      description = "Consent decisions taken by the sidecar."
    }
    consent_blocked = {
      # A bare string matches any field: here any destination outcome in the record.
      filter      = "jsonPayload.type=\"${var.log_record_types.consent_decision}\" AND \"blocked_no_consent\""
      description = "Consent decisions that blocked at least one destination."
    }
  }
}

# --- Retention: an EU log bucket with the plan's retention --------------------------------

resource "google_logging_project_bucket_config" "main" {
  project        = var.project_id
  location       = var.log_bucket_location
  bucket_id      = "${var.name_prefix}-logs"
  retention_days = var.retention_days
  description    = "sGTM and sidecar logs, kept for the tracking plan's retention_days."
}

resource "google_logging_project_sink" "services" {
  project                = var.project_id
  name                   = "${var.name_prefix}-services"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.main.id}"
  filter                 = local.service_filter
  unique_writer_identity = true
}

resource "google_logging_project_exclusion" "default_bucket" {
  count = var.exclude_from_default_bucket ? 1 : 0

  project     = var.project_id
  name        = "${var.name_prefix}-not-in-default"
  description = "These logs are routed to the EU bucket by the ${var.name_prefix}-services sink."
  filter      = local.service_filter
}

# --- Consent audit trail in BigQuery (EU) ------------------------------------------------

resource "google_bigquery_dataset" "audit" {
  project     = var.project_id
  dataset_id  = replace("${var.name_prefix}_consent_audit", "-", "_")
  location    = var.bigquery_location
  description = "Consent decision records routed from Cloud Logging."
  labels      = var.labels
  # The sink writes date-partitioned tables, so retention is per partition: a table expiry
  # would drop a whole table, recent days included, retention_days after it was created.
  default_partition_expiration_ms = var.retention_days * 86400000
  delete_contents_on_destroy      = false
}

resource "google_logging_project_sink" "consent_audit" {
  project                = var.project_id
  name                   = "${var.name_prefix}-consent-audit"
  destination            = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.audit.dataset_id}"
  filter                 = "${local.service_filter} AND ${local.metrics.consent_decisions.filter}"
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true
  }
}

resource "google_bigquery_dataset_iam_member" "audit_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.consent_audit.writer_identity
}

# --- Log-based metrics --------------------------------------------------------------------

resource "google_logging_metric" "main" {
  for_each = local.metrics

  project     = var.project_id
  name        = "${replace(var.name_prefix, "-", "_")}_${each.key}"
  description = each.value.description
  filter      = "${local.service_filter} AND ${each.value.filter}"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

# --- Notification channels ------------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.notification_emails)

  project      = var.project_id
  display_name = "${var.name_prefix} alerts: ${each.value}"
  type         = "email"
  user_labels  = var.labels
  labels = {
    email_address = each.value
  }
}

# --- Alerts ---------------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "delivery_failures" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: delivery failures"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "delivery_failure records per 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.main["delivery_failures"].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.delivery_failures_per_5m
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "Destinations are rejecting deliveries; the sidecar retries them. Check the delivery_failure records for the destination and status."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: dead letters growing"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "dead_letter records logged"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.main["dead_letters"].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  conditions {
    display_name = "dead-letter subscription backlog"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${var.dead_letter_subscription}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    content   = "Events exhausted their delivery attempts. Inspect the dead-letter subscription and the dead_letter records before replaying."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "quarantined_webhooks" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: webhooks quarantined"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "webhook_quarantined records logged"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.main["quarantined"].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "An authentic webhook body could not be mapped to events (orders or refunds are missing from every destination until it is replayed). `sgtm quarantine list` shows the field and reason; fix the mapping or the plan, then `sgtm quarantine replay`."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "server_errors" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: 5xx rate"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "share of 5xx responses per service"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND ${local.service_filter} AND metric.labels.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.service_filter}"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.thresholds.server_error_ratio
      duration           = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    content   = "A service answers 5xx to more than the configured share of requests."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "consent_blocked_jump" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: consent-blocked rate jumped"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  # The blocked share of the last hour against the same share over the previous day: a CMP
  # or plan change that suddenly blocks far more events shows up here, a steady share does not.
  conditions {
    display_name = "blocked share vs previous day"
    condition_prometheus_query_language {
      query               = <<-EOT
        (
          sum(rate(${local.promql_prefix}${google_logging_metric.main["consent_blocked"].name}[1h]))
          / sum(rate(${local.promql_prefix}${google_logging_metric.main["consent_decisions"].name}[1h]))
        )
        > ${var.thresholds.consent_blocked_jump} * (
          sum(rate(${local.promql_prefix}${google_logging_metric.main["consent_blocked"].name}[1d] offset 1h))
          / sum(rate(${local.promql_prefix}${google_logging_metric.main["consent_decisions"].name}[1d] offset 1h))
        )
        and sum(rate(${local.promql_prefix}${google_logging_metric.main["consent_decisions"].name}[1h])) > ${var.thresholds.consent_decisions_minimum}
      EOT
      duration            = "900s"
      evaluation_interval = "300s"
    }
  }

  documentation {
    content   = "The share of consent decisions that block destinations grew sharply. Check recent CMP, plan or site changes."
    mime_type = "text/markdown"
  }
}

# --- Uptime ---------------------------------------------------------------------------------

resource "google_monitoring_uptime_check_config" "main" {
  for_each = var.uptime_checks

  project      = var.project_id
  display_name = "${var.name_prefix}: ${each.key}"
  timeout      = "10s"
  period       = "60s"
  user_labels  = var.labels

  http_check {
    path         = each.value.path
    port         = 443
    use_ssl      = true
    validate_ssl = true
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = each.value.host
    }
  }
}

resource "google_monitoring_alert_policy" "uptime" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: uptime check failing"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  dynamic "conditions" {
    for_each = google_monitoring_uptime_check_config.main
    content {
      display_name = "${conditions.key} unreachable"
      condition_threshold {
        filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.labels.check_id=\"${conditions.value.uptime_check_id}\""
        comparison      = "COMPARISON_GT"
        threshold_value = 1
        duration        = "300s"
        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_NEXT_OLDER"
          cross_series_reducer = "REDUCE_COUNT_FALSE"
          group_by_fields      = ["resource.labels.host"]
        }
      }
    }
  }
}

# --- Access review: Data Access audit logs, kept in the EU bucket ---------------------------
# Who read or exported event data (Firestore, BigQuery, Cloud Storage) or configuration and
# secrets (Secret Manager). Google leaves Data Access logs off except for BigQuery; they are
# turned on here and routed to the EU bucket with the plan's retention. Reviewed monthly with
# `sgtm audit access --days 30` (docs/privacy.md, "Access review").

resource "google_project_iam_audit_config" "data_access" {
  for_each = toset(var.data_access_services)

  project = var.project_id
  service = each.value

  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

resource "google_logging_project_sink" "data_access" {
  project                = var.project_id
  name                   = "${var.name_prefix}-data-access"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.main.id}"
  filter                 = "logName:\"cloudaudit.googleapis.com%2Fdata_access\" AND protoPayload.serviceName=(${join(" OR ", [for s in var.data_access_services : "\"${s}\""])})"
  unique_writer_identity = true
}

# Without this the _Default bucket (whose location may be global) would keep a second copy.
resource "google_logging_project_exclusion" "data_access_default" {
  count = var.exclude_from_default_bucket ? 1 : 0

  project     = var.project_id
  name        = "${var.name_prefix}-data-access-not-in-default"
  description = "Data Access audit logs are routed to the EU bucket by the ${var.name_prefix}-data-access sink."
  filter      = google_logging_project_sink.data_access.filter
}
