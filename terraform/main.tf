locals {
  labels = merge(var.labels, { app = "sgtm-companion" })

  secret_env = merge(var.sidecar_secret_env, {
    (var.delivery_keys_env) = var.delivery_keys_secret_id
  })

  secrets = merge(
    { for env, id in var.sidecar_secret_env : id => "Sidecar environment variable ${env}." },
    {
      (var.container_config_secret_id) = "sGTM CONTAINER_CONFIG (Admin > Container settings > manual provisioning)."
      (var.delivery_keys_secret_id)    = "Delivery keyset {\"keys\": {\"<kid>\": \"<base64>\"}}: SGTM_DELIVERY_KEYS in the sidecar, SGTM_CREDENTIALS file in sGTM."
    },
  )

  apis = [
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project = var.project_id
  service = each.value
  # Other workloads in the project may use these APIs too.
  disable_on_destroy = false
}

module "topology" {
  source = "./modules/topology"

  region              = var.region
  allow_non_eu_region = var.allow_non_eu_region
  domain              = var.domain
  collect_subdomain   = var.collect_subdomain
  edge_mode           = var.edge_mode
  client_path         = var.client_path
  firestore_location  = var.firestore_location
  bigquery_location   = var.bigquery_location
}

module "secrets" {
  source = "./modules/secrets"

  project_id        = var.project_id
  secrets           = local.secrets
  replica_locations = module.topology.storage_regions
  labels            = local.labels

  depends_on = [google_project_service.apis]
}

module "sgtm" {
  source = "./modules/sgtm"

  project_id              = var.project_id
  region                  = module.topology.region
  name_prefix             = var.name_prefix
  image                   = var.sgtm_image
  container_config_secret = module.secrets.names[var.container_config_secret_id]
  credentials_secret      = module.secrets.names[var.delivery_keys_secret_id]
  min_instances           = var.sgtm_min_instances
  max_instances           = var.sgtm_max_instances
  cpu                     = var.sgtm_cpu
  memory                  = var.sgtm_memory
  ingress                 = module.topology.sgtm_ingress
  preview_ingress         = module.topology.preview_ingress
  labels                  = local.labels
  deletion_protection     = var.deletion_protection
  secrets_revision        = var.secrets_revision

  depends_on = [google_project_service.apis]
}

module "sidecar" {
  source = "./modules/sidecar"

  project_id  = var.project_id
  region      = module.topology.region
  name_prefix = var.name_prefix
  image       = var.sidecar_image
  plan_path   = var.sidecar_plan_path
  collect_url = module.topology.collect_url
  secret_env  = { for env, id in local.secret_env : env => module.secrets.names[id] }
  # Defaults first so sidecar_env can override them.
  env = merge(
    { SGTM_TRUSTED_PROXIES = tostring(module.topology.trusted_proxies) },
    var.sidecar_env,
  )
  delivery_mode         = var.delivery_mode
  max_delivery_attempts = var.max_delivery_attempts
  retention_days        = var.retention_days
  firestore_database    = var.firestore_database
  firestore_location    = module.topology.firestore_location
  storage_regions       = module.topology.storage_regions
  min_instances         = var.sidecar_min_instances
  max_instances         = var.sidecar_max_instances
  cpu                   = var.sidecar_cpu
  memory                = var.sidecar_memory
  gunicorn              = var.gunicorn
  ingress               = module.topology.sidecar_ingress
  labels                = local.labels
  deletion_protection   = var.deletion_protection
  secrets_revision      = var.secrets_revision

  depends_on = [google_project_service.apis]
}

module "edge" {
  source = "./modules/edge"

  project_id      = var.project_id
  region          = module.topology.region
  name_prefix     = var.name_prefix
  mode            = var.edge_mode
  hostname        = module.topology.collect_host
  sgtm_service    = module.sgtm.tagging_service_name
  sidecar_service = module.sidecar.service_name
  client_path     = var.client_path
  rate_limit      = var.rate_limit
  labels          = local.labels

  depends_on = [google_project_service.apis]
}

module "reconcile" {
  source = "./modules/reconcile"

  project_id               = var.project_id
  region                   = module.topology.region
  name_prefix              = var.name_prefix
  image                    = var.sidecar_image
  plan_path                = var.sidecar_plan_path
  firestore_database       = module.sidecar.firestore_database
  retention_days           = var.retention_days
  schedule                 = var.reconcile_schedule
  time_zone                = var.reconcile_time_zone
  secret_env               = var.reconcile_secret_env
  pull                     = var.reconcile_pull
  labels                   = local.labels
  notification_channel_ids = module.observability.notification_channels
  deletion_protection      = var.deletion_protection

  depends_on = [google_project_service.apis]
}

module "observability" {
  source = "./modules/observability"

  project_id               = var.project_id
  name_prefix              = var.name_prefix
  log_bucket_location      = module.topology.log_bucket_location
  bigquery_location        = module.topology.bigquery_location
  retention_days           = var.retention_days
  log_record_types         = var.log_record_types
  dead_letter_subscription = module.sidecar.dead_letter_subscription
  notification_emails      = var.notification_emails
  notification_channel_ids = var.notification_channel_ids
  thresholds               = var.alert_thresholds
  labels                   = local.labels

  services = [
    module.sgtm.tagging_service_name,
    module.sgtm.preview_service_name,
    module.sidecar.service_name,
  ]

  uptime_checks = {
    # The tagging server answers "ok" on /healthy (Google's manual setup guide).
    sgtm = { host = module.topology.collect_host, path = "/healthy" }
    # Behind the load balancer /v1/readyz is rewritten to the sidecar's /readyz.
    sidecar = module.topology.behind_load_balancer ? {
      host = module.topology.collect_host, path = "/v1/readyz"
      } : {
      host = trimprefix(module.sidecar.url, "https://"), path = "/readyz"
    }
  }

  depends_on = [google_project_service.apis]
}
