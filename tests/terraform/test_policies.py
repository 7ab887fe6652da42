"""Policies over the parsed HCL, each shown to hold for the tree and to catch a violation."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.terraform import hcl, policies
from tests.terraform.schema import load_schema

SCHEMA = load_schema()
FILES = hcl.tf_files(hcl.TERRAFORM)
TTL_COLLECTIONS = ["contexts", "dead_letters", "events", "idempotency", "ledger", "quarantine"]


def _snippet(tmp_path: Path, source: str) -> list[hcl.TfFile]:
    path = tmp_path / "main.tf"
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return [hcl.parse(path)]


def _messages(findings: list[hcl.Finding]) -> list[str]:
    return [f"{f.line}: {f.address}: {f.message}" for f in findings]


def _variable_default(module: str, name: str):
    files = hcl.tf_files_in(hcl.TERRAFORM / "modules" / module if module else hcl.TERRAFORM)
    for var in hcl.blocks(files, "variable"):
        if var.labels[0] == name:
            return var.body.get("default")
    raise AssertionError(f"no variable {name} in {module or 'root'}")


# --- the tree holds every policy ---------------------------------------------------------


def test_every_regional_resource_is_in_an_eu_location() -> None:
    findings = policies.eu_locations(FILES, SCHEMA)
    assert findings == [], "\n".join(map(str, findings))


def test_module_locations_come_from_the_validated_topology() -> None:
    assert policies.location_wiring(hcl.module_calls()) == []


def test_cloud_run_ingress_is_explicit_and_from_topology() -> None:
    assert policies.ingress(FILES) == []
    calls = hcl.module_calls()
    assert calls["sidecar"]["ingress"] == "${module.topology.sidecar_ingress}"
    assert calls["sgtm"]["ingress"] == "${module.topology.sgtm_ingress}"
    assert calls["sgtm"]["preview_ingress"] == "${module.topology.preview_ingress}"


def test_no_secret_value_in_any_tf_or_example() -> None:
    findings = policies.no_inline_secrets(hcl.tf_files(hcl.TERRAFORM, hcl.EXAMPLES))
    findings += policies.tfvars_secrets(hcl.parse(hcl.EXAMPLES / "terraform.tfvars.example"))
    assert findings == [], "\n".join(map(str, findings))


def test_retention_is_set_everywhere_it_applies() -> None:
    collections = _variable_default("sidecar", "ttl_collections")
    assert collections == TTL_COLLECTIONS
    # Every collection the sidecar's Firestore store writes must expire, or the plan's
    # retention silently stops applying to it.
    store = (hcl.REPO / "sidecar" / "store" / "gcp.py").read_text(encoding="utf-8")
    written = set(re.findall(r'collection\("([a-z_]+)"\)', store))
    assert written, "sidecar/store/gcp.py names no collection"
    assert written <= set(collections), written - set(collections)
    assert "ttl_collections" not in hcl.module_calls()["sidecar"], "root must not drop TTLs"
    assert policies.retention(FILES, collections) == []
    calls = hcl.module_calls()
    assert calls["observability"]["retention_days"] == "${var.retention_days}"
    assert calls["sidecar"]["retention_days"] == "${var.retention_days}"


def test_images_are_pinned_by_digest() -> None:
    assert policies.digest_pinned_images(FILES) == []


def test_roles_are_least_privilege() -> None:
    findings = policies.least_privilege(FILES)
    assert findings == [], "\n".join(map(str, findings))


def test_every_resource_that_takes_labels_has_them() -> None:
    findings = policies.labels(FILES, SCHEMA)
    assert findings == [], "\n".join(map(str, findings))


# --- each policy catches what it is for ------------------------------------------------------

VIOLATIONS = {
    "us_region": (
        policies.eu_locations,
        """
        resource "google_cloud_run_v2_service_iam_member" "x" {
          location = "us-central1"
          name     = "s"
          role     = "roles/run.invoker"
          member   = "serviceAccount:a@b.iam.gserviceaccount.com"
        }
        """,
        [
            "2: google_cloud_run_v2_service_iam_member.x: location = 'us-central1' is not an EU"
            " location"
        ],
    ),
    "location_omitted": (
        policies.eu_locations,
        """
        resource "google_bigquery_dataset" "d" {
          dataset_id = "d"
        }
        """,
        ["1: google_bigquery_dataset.d: location is not set; name an EU location explicitly"],
    ),
    "location_from_unvalidated_variable": (
        policies.eu_locations,
        """
        resource "google_firestore_database" "d" {
          name        = "d"
          type        = "FIRESTORE_NATIVE"
          location_id = var.where
        }
        """,
        [
            "4: google_firestore_database.d: location_id = ${var.where} is not a location"
            " variable the root feeds from topology"
        ],
    ),
    "pubsub_without_storage_policy": (
        policies.eu_locations,
        """
        resource "google_pubsub_topic" "t" {
          name = "t"
        }
        """,
        [
            "1: google_pubsub_topic.t: no message_storage_policy: Pub/Sub may persist messages"
            " outside the EU"
        ],
    ),
    "secret_auto_replication": (
        policies.eu_locations,
        """
        resource "google_secret_manager_secret" "s" {
          secret_id = "s"
          replication {
            auto {}
          }
        }
        """,
        [
            "3: google_secret_manager_secret.s: replication must be user_managed in EU regions"
            " (auto may replicate anywhere)"
        ],
    ),
    "ingress_missing": (
        lambda files: policies.ingress(files),
        """
        resource "google_cloud_run_v2_service" "s" {
          name     = "s"
          location = var.region
        }
        """,
        [
            "1: google_cloud_run_v2_service.s: ingress is not set (the default admits all"
            " internet traffic)"
        ],
    ),
    "ingress_hard_coded_all": (
        lambda files: policies.ingress(files),
        """
        resource "google_cloud_run_v2_service" "s" {
          name     = "s"
          location = var.region
          ingress  = "INGRESS_TRAFFIC_ALL"
        }
        """,
        [
            "4: google_cloud_run_v2_service.s: ingress is hard-coded to INGRESS_TRAFFIC_ALL;"
            " take it from the topology module"
        ],
    ),
    "secret_env_literal": (
        lambda files: policies.no_inline_secrets(files),
        """
        resource "google_cloud_run_v2_service" "s" {
          template {
            containers {
              env {
                name  = "STRIPE_WEBHOOK_SECRET"
                value = "hunter2"
              }
            }
          }
        }
        """,
        [
            "6: google_cloud_run_v2_service.s: env STRIPE_WEBHOOK_SECRET has a literal value;"
            " use value_source.secret_key_ref"
        ],
    ),
    "secret_version_resource": (
        lambda files: policies.no_inline_secrets(files),
        """
        resource "google_secret_manager_secret_version" "v" {
          secret      = "s"
          secret_data = var.x
        }
        """,
        [
            "1: google_secret_manager_secret_version.v: secret versions put the value into .tf"
            " files and state; add values with gcloud"
        ],
    ),
    "stripe_key_anywhere": (
        lambda files: policies.no_inline_secrets(files),
        # Assembled at run time so the repository never holds a key-shaped literal.
        """
        resource "google_pubsub_topic" "t" {
          name   = "t"
          labels = { note = "SK_LIVE4eC39HqLyjWDarjtT1zdp7dc" }
        }
        """.replace("SK_LIVE", "sk" + "_live_"),
        ["3: google_pubsub_topic.t: looks like an inline Stripe secret"],
    ),
    "image_tag": (
        lambda files: policies.digest_pinned_images(files),
        """
        resource "google_cloud_run_v2_service" "s" {
          template {
            containers {
              image = "gcr.io/cloud-tagging-10302018/gtm-cloud-image:stable"
            }
          }
        }
        """,
        [
            "4: google_cloud_run_v2_service.s: image 'gcr.io/cloud-tagging-10302018/"
            "gtm-cloud-image:stable' is not pinned by digest"
        ],
    ),
    "image_variable_without_digest_check": (
        lambda files: policies.digest_pinned_images(files),
        """
        variable "image" {
          type = string
        }
        resource "google_cloud_run_v2_service" "s" {
          template {
            containers {
              image = var.image
            }
          }
        }
        """,
        [
            "7: google_cloud_run_v2_service.s: image comes from var.image, which has no @sha256"
            " digest validation"
        ],
    ),
    "editor_role": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_project_iam_member" "m" {
          project = "p"
          role    = "roles/editor"
          member  = "serviceAccount:a@b.iam.gserviceaccount.com"
        }
        """,
        [
            "3: google_project_iam_member.m: roles/editor is a primitive role; grant a narrow one",
            "3: google_project_iam_member.m: project-wide roles/editor; grant it on the resource"
            " instead",
        ],
    ),
    "owner_role_on_a_secret": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_secret_manager_secret_iam_member" "m" {
          secret_id = "s"
          role      = "roles/owner"
          member    = "serviceAccount:a@b.iam.gserviceaccount.com"
        }
        """,
        [
            "3: google_secret_manager_secret_iam_member.m: roles/owner is a primitive role;"
            " grant a narrow one"
        ],
    ),
    "admin_role": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_pubsub_topic_iam_member" "m" {
          topic  = "t"
          role   = "roles/pubsub.admin"
          member = "serviceAccount:a@b.iam.gserviceaccount.com"
        }
        """,
        [
            "3: google_pubsub_topic_iam_member.m: roles/pubsub.admin is an admin role; grant a"
            " narrow one"
        ],
    ),
    "public_member": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_cloud_run_v2_service_iam_member" "m" {
          name   = "s"
          role   = "roles/run.invoker"
          member = "allUsers"
        }
        """,
        [
            "4: google_cloud_run_v2_service_iam_member.m: allUsers grant; public services use"
            " invoker_iam_disabled instead"
        ],
    ),
    "unconditioned_project_grant": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_project_iam_member" "m" {
          project = "p"
          role    = "roles/datastore.user"
          member  = "serviceAccount:a@b.iam.gserviceaccount.com"
        }
        """,
        [
            "3: google_project_iam_member.m: project-wide roles/datastore.user needs a condition"
            " narrowing it to one resource"
        ],
    ),
    "authoritative_binding": (
        lambda files: policies.least_privilege(files),
        """
        resource "google_pubsub_topic_iam_binding" "b" {
          topic   = "t"
          role    = "roles/pubsub.publisher"
          members = []
        }
        """,
        [
            "1: google_pubsub_topic_iam_binding.b: authoritative IAM resources replace grants"
            " made outside Terraform; use _iam_member"
        ],
    ),
    "retention_not_from_plan": (
        lambda files: policies.retention(files, TTL_COLLECTIONS),
        """
        resource "google_logging_project_bucket_config" "b" {
          project        = "p"
          location       = "europe-west1"
          bucket_id      = "b"
          retention_days = 30
        }
        resource "google_firestore_field" "f" {
          collection = "ledger"
          field      = "created_at"
          ttl_config {}
        }
        resource "google_bigquery_dataset" "d" {
          dataset_id                  = "d"
          default_table_expiration_ms = var.retention_days * 86400000
        }
        """,
        [
            "5: google_logging_project_bucket_config.b: retention_days must be var.retention_days"
            " (the plan's retention)",
            "12: google_bigquery_dataset.d: default_partition_expiration_ms must derive from"
            " var.retention_days",
            "14: google_bigquery_dataset.d: default_table_expiration_ms drops whole tables;"
            " expire partitions instead",
            "9: google_firestore_field.f: the TTL field must be expire_at",
        ],
    ),
    "labels_missing": (
        lambda files: policies.labels(files, SCHEMA),
        """
        resource "google_monitoring_uptime_check_config" "u" {
          display_name = "u"
          timeout      = "10s"
        }
        resource "google_cloud_run_v2_service" "s" {
          labels = {}
          template {}
        }
        """,
        [
            "1: google_monitoring_uptime_check_config.u: user_labels is not set",
            "7: google_cloud_run_v2_service.s: revision template has no labels",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_policy_reports_the_violation(tmp_path: Path, case: str) -> None:
    rule, source, expected = VIOLATIONS[case]
    files = _snippet(tmp_path, source)
    if rule is policies.eu_locations:
        findings = rule(files, SCHEMA)
    else:
        findings = rule(files)
    assert _messages(findings) == expected


def test_location_wiring_catches_a_literal_region() -> None:
    calls = {"sidecar": {"region": "us-east1"}, "topology": {"region": "${var.region}"}}
    assert policies.location_wiring(calls) == [
        "module.sidecar.region = 'us-east1' does not come from module.topology"
    ]


def test_example_tfvars_with_inline_secret_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "x.tfvars"
    path.write_text(
        'project_id = "p"\nsidecar_env = {\n  STRIPE_WEBHOOK_SECRET = "whsec_abcdefghijklmn"\n}\n',
        encoding="utf-8",
    )
    assert _messages(policies.tfvars_secrets(hcl.parse(path))) == [
        "2: sidecar_env: looks like an inline Stripe webhook secret",
        "2: sidecar_env: STRIPE_WEBHOOK_SECRET looks like a secret; put it in sidecar_secret_env",
    ]
