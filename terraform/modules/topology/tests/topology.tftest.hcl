variables {
  region = "europe-west1"
  domain = "shop.example.com"
}

run "defaults_keep_data_in_the_eu_behind_the_load_balancer" {
  command = plan

  assert {
    condition     = output.collect_url == "https://collect.shop.example.com/s2s/events"
    error_message = "collect_url must be https://collect.<domain><client_path>"
  }
  assert {
    condition     = output.sidecar_ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" && output.sgtm_ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    error_message = "behind the load balancer, services must only admit internal and load balancer traffic"
  }
  assert {
    condition     = output.firestore_location == "eur3" && output.bigquery_location == "EU" && output.log_bucket_location == "europe-west1"
    error_message = "default storage locations must be EU ones"
  }
  assert {
    condition     = output.storage_regions == ["europe-west1"]
    error_message = "Pub/Sub and Secret Manager must persist only in the service region"
  }
  assert {
    condition     = output.trusted_proxies == 2
    error_message = "behind the load balancer the client is the second X-Forwarded-For entry from the right"
  }
}

run "domain_mapping_makes_services_public" {
  command = plan

  variables {
    edge_mode = "domain_mapping"
  }

  assert {
    condition     = output.sidecar_ingress == "INGRESS_TRAFFIC_ALL" && !output.behind_load_balancer
    error_message = "without a load balancer the services must accept public traffic"
  }
  assert {
    condition     = output.trusted_proxies == 1
    error_message = "served directly, Cloud Run appends only the client address"
  }
}

run "non_eu_region_is_rejected" {
  command = plan

  variables {
    region = "us-central1"
  }

  expect_failures = [var.region]
}

run "london_is_europe_but_not_eu" {
  command = plan

  variables {
    region = "europe-west2"
  }

  expect_failures = [var.region]
}

run "override_allows_a_non_eu_region" {
  command = plan

  variables {
    region              = "us-central1"
    allow_non_eu_region = true
  }

  assert {
    condition     = output.region == "us-central1"
    error_message = "the explicit override must allow a non-EU region"
  }
}

run "non_eu_firestore_is_rejected" {
  command = plan

  variables {
    firestore_location = "nam5"
  }

  expect_failures = [var.firestore_location]
}

run "domain_mapping_needs_a_supported_region" {
  command = plan

  variables {
    region    = "europe-west3"
    edge_mode = "domain_mapping"
  }

  expect_failures = [var.edge_mode]
}

run "domain_must_be_a_hostname" {
  command = plan

  variables {
    domain = "https://shop.example.com/"
  }

  expect_failures = [var.domain]
}

run "client_path_must_not_shadow_the_sidecar" {
  command = plan

  variables {
    client_path = "/v1/events"
  }

  expect_failures = [var.client_path]
}
