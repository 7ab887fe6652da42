"""The deployment wires the names the rest of the project relies on (docs/architecture.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.terraform import hcl, readme_tables

MODULES = hcl.TERRAFORM / "modules"
ALL_FILES = hcl.tf_files(hcl.TERRAFORM)


def _module_files(name: str) -> list[hcl.TfFile]:
    return hcl.tf_files_in(MODULES / name)


def _resource(module: str, type_: str, name: str) -> dict[str, Any]:
    for block in hcl.blocks(_module_files(module), "resource"):
        if block.labels == (type_, name):
            return block.body
    raise AssertionError(f"modules/{module} has no {type_}.{name}")


def _locals(module: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for file in _module_files(module):
        for entry in file.doc.get("locals", []):
            merged.update({k: v for k, v in entry.items() if k != hcl.BLOCK})
    return merged


def _container(service: dict[str, Any]) -> dict[str, Any]:
    (template,) = hcl.nested(service, "template")
    (container,) = hcl.nested(template, "containers")
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    """Static env blocks by name: the literal value or the secret_key_ref block."""
    out = {}
    for env in container.get("env", []):
        if "value_source" in env:
            (source,) = env["value_source"]
            (ref,) = source["secret_key_ref"]
            out[env["name"]] = {"secret": ref["secret"], "version": ref["version"]}
        else:
            out[env["name"]] = env.get("value")
    return out


def _variables(files: list[hcl.TfFile]) -> dict[str, dict[str, Any]]:
    return {v.labels[0]: v.body for v in hcl.blocks(files, "variable")}


# --- sGTM ----------------------------------------------------------------------------------


def test_tagging_server_reads_config_preview_url_and_keyset_file() -> None:
    service = _resource("sgtm", "google_cloud_run_v2_service", "tagging")
    container = _container(service)
    env = _env(container)
    assert env["CONTAINER_CONFIG"] == {
        "secret": "${var.container_config_secret}",
        "version": "latest",
    }
    assert env["PREVIEW_SERVER_URL"] == "${google_cloud_run_v2_service.preview.uri}"
    assert env["SGTM_CREDENTIALS"] == "${local.credentials_file}"
    assert _locals("sgtm")["credentials_file"] == "${var.credentials_mount_dir}/keys.json"
    (mount,) = container["volume_mounts"]
    assert mount["mount_path"] == "${var.credentials_mount_dir}"
    (template,) = service["template"]
    (volume,) = [v for v in template["volumes"] if v["name"] == mount["name"]]
    (secret,) = volume["secret"]
    assert secret["secret"] == "${var.credentials_secret}"
    assert secret["items"] == [{"version": "latest", "path": "keys.json", hcl.BLOCK: True}]
    (scaling,) = template["scaling"]
    assert scaling["min_instance_count"] == "${var.min_instances}"
    assert scaling["max_instance_count"] == "${var.max_instances}"
    (resources,) = container["resources"]
    assert resources["limits"] == {"cpu": "${var.cpu}", "memory": "${var.memory}"}
    assert container["image"] == "${var.image}"


def test_preview_server_is_the_same_image_with_at_most_one_instance() -> None:
    service = _resource("sgtm", "google_cloud_run_v2_service", "preview")
    container = _container(service)
    env = _env(container)
    assert env["RUN_AS_PREVIEW_SERVER"] == "true"
    assert env["CONTAINER_CONFIG"]["secret"] == "${var.container_config_secret}"
    assert container["image"] == "${var.image}"
    (template,) = service["template"]
    assert template["scaling"][0]["max_instance_count"] == 1


def test_delivery_keyset_reaches_both_sides() -> None:
    calls = hcl.module_calls()
    assert calls["sgtm"]["credentials_secret"] == (
        "${module.secrets.names[var.delivery_keys_secret_id]}"
    )
    root_locals = {}
    for file in hcl.tf_files_in(hcl.TERRAFORM):
        for entry in file.doc.get("locals", []):
            root_locals.update(entry)
    assert root_locals["secret_env"] == (
        "${merge(var.sidecar_secret_env, {(var.delivery_keys_env) = var.delivery_keys_secret_id})}"
    )
    assert "local.secret_env" in calls["sidecar"]["secret_env"]


# --- Sidecar -------------------------------------------------------------------------------


def test_sidecar_environment_matches_the_architecture_contract() -> None:
    plain = _locals("sidecar")["plain_env"]
    # merge(var.env, {...}): the contract keys come last so var.env cannot override them.
    match = re.fullmatch(r"\$\{merge\(var\.env, \{(.*)\}\)\}", plain, re.S)
    assert match, plain
    pairs = dict(re.findall(r"'?\"?([A-Z_]+)\"?'?\s*[:=]\s*([^,]+?)(?:,|$)", match.group(1)))
    expected = {
        "SGTM_PLAN": "var.plan_path",
        "SGTM_BACKEND": '"gcp"',
        "GOOGLE_CLOUD_PROJECT": "var.project_id",
        "SGTM_PUBSUB_TOPIC": "local.topic_name",
        "SGTM_PUBSUB_SUBSCRIPTION": "local.subscription_name",
        "SGTM_FIRESTORE_DATABASE": "var.firestore_database",
        "SGTM_COLLECT_URL": "var.collect_url",
        "WORKERS": "tostring(var.gunicorn.workers)",
        "THREADS": "tostring(var.gunicorn.threads)",
        "TIMEOUT": "tostring(var.gunicorn.timeout)",
    }
    for key, value in expected.items():
        assert pairs.get(key, "").strip() == value, (key, pairs.get(key))
    variables = _variables(_module_files("sidecar"))
    assert variables["plan_path"]["default"] == "/app/plan.yaml"
    container = _container(_resource("sidecar", "google_cloud_run_v2_service", "sidecar"))
    assert container["ports"][0]["container_port"] == 8080  # Cloud Run sets PORT from it
    dynamic = {name: d[name] for d in container["dynamic"] for name in d}
    assert dynamic["env"]["for_each"] in {"${local.plain_env}", "${var.secret_env}"}
    secret_envs = [
        d["env"] for d in container["dynamic"] if d["env"]["for_each"] == "${var.secret_env}"
    ]
    (secret_env,) = secret_envs
    (content,) = secret_env["content"]
    ref = content["value_source"][0]["secret_key_ref"][0]
    assert ref == {"secret": "${env.value}", "version": "latest", hcl.BLOCK: True}


def test_sidecar_probes_use_healthz_and_readyz() -> None:
    container = _container(_resource("sidecar", "google_cloud_run_v2_service", "sidecar"))
    assert container["startup_probe"][0]["http_get"][0]["path"] == "/readyz"
    assert container["liveness_probe"][0]["http_get"][0]["path"] == "/healthz"


def test_sgtm_services_have_http_startup_and_liveness_probes_on_healthy() -> None:
    for name in ("preview", "tagging"):
        container = _container(_resource("sgtm", "google_cloud_run_v2_service", name))
        for probe in ("startup_probe", "liveness_probe"):
            (block,) = container[probe]
            assert "tcp_socket" not in block, (name, probe)
            assert block["http_get"][0]["path"] == "/healthy", (name, probe)


def test_secret_env_is_a_required_map_and_the_keyset_is_added_once() -> None:
    root = _variables(hcl.tf_files_in(hcl.TERRAFORM))
    assert root["sidecar_secret_env"]["type"] == "${map(string)}"
    assert "default" not in root["sidecar_secret_env"], "it must come from the plan"
    assert root["delivery_keys_env"]["default"] == "SGTM_DELIVERY_KEYS"
    rules = str(root["sidecar_secret_env"]["validation"])
    assert "!contains(keys(var.sidecar_secret_env), var.delivery_keys_env)" in rules


def test_push_subscription_retries_dead_letters_and_uses_a_dedicated_identity() -> None:
    sub = _resource("sidecar", "google_pubsub_subscription", "delivery")
    (retry,) = sub["retry_policy"]
    assert retry == {
        "minimum_backoff": "${var.retry_minimum_backoff}",
        "maximum_backoff": "${var.retry_maximum_backoff}",
        hcl.BLOCK: True,
    }
    (dead,) = sub["dead_letter_policy"]
    assert dead["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert dead["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    (push,) = [d["push_config"] for d in sub["dynamic"]]
    assert push["for_each"] == '${var.delivery_mode == "push" ? [1] : []}'
    (content,) = push["content"]
    assert content["push_endpoint"] == "${google_cloud_run_v2_service.sidecar.uri}/v1/deliver"
    (oidc,) = content["oidc_token"]
    assert oidc["service_account_email"] == "${google_service_account.push.email}"
    # The push identity holds exactly one role: invoking the sidecar.
    grants = [
        b
        for b in hcl.blocks(_module_files("sidecar"), "resource")
        if "google_service_account.push" in str(b.body.get("member", ""))
    ]
    assert [(g.labels[0], g.body["role"]) for g in grants] == [
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker")
    ]


def test_firestore_ttl_policies_cover_the_plan_collections() -> None:
    db = _resource("sidecar", "google_firestore_database", "main")
    assert db["location_id"] == "${var.firestore_location}"
    field = _resource("sidecar", "google_firestore_field", "ttl")
    assert field["for_each"] == "${toset(var.ttl_collections)}"
    assert field["field"] == "expire_at"
    assert field["ttl_config"] == [{hcl.BLOCK: True}]


# --- Edge ----------------------------------------------------------------------------------


def test_url_map_sends_v1_to_the_sidecar_and_the_rest_to_sgtm() -> None:
    url_map = _resource("edge", "google_compute_url_map", "https")
    sgtm = "${google_compute_backend_service.sgtm[0].id}"
    sidecar = "${google_compute_backend_service.sidecar[0].id}"
    assert url_map["default_service"] == sgtm
    (matcher,) = url_map["path_matcher"]
    assert matcher["default_service"] == sgtm
    rules = {tuple(r["paths"]): r["service"] for r in matcher["path_rule"]}
    assert rules[("/v1/*",)] == sidecar
    assert url_map["host_rule"][0]["hosts"] == ["${var.hostname}"]
    cert = _resource("edge", "google_compute_managed_ssl_certificate", "collect")
    assert cert["managed"][0]["domains"] == ["${var.hostname}"]


def test_cloud_armor_rate_limits_and_guards_the_push_endpoint() -> None:
    policy = _resource("edge", "google_compute_security_policy", "edge")
    rules = policy["rule"]
    throttles = [r for r in rules if r["action"] == "throttle"]
    assert len(throttles) == 3
    batches = [r for r in throttles if "var.client_path" in str(r["match"])]
    (batch_rule,) = batches
    (opts,) = batch_rule["rate_limit_options"]
    assert opts["rate_limit_threshold"][0]["count"] == "${var.rate_limit.batches_per_minute}"
    assert hcl.module_calls()["edge"]["client_path"] == "${var.client_path}"
    for rule in throttles:
        (opts,) = rule["rate_limit_options"]
        assert opts["exceed_action"] == "deny(429)" and opts["enforce_on_key"] == "IP"
    deny = [r for r in rules if r["action"] == "deny(403)"]
    assert "/v1/deliver" in deny[0]["match"][0]["expr"][0]["expression"]
    assert min(r["priority"] for r in deny) < min(r["priority"] for r in throttles)
    for name in ("sgtm", "sidecar"):
        backend = _resource("edge", "google_compute_backend_service", name)
        assert backend["security_policy"] == "${google_compute_security_policy.edge[0].id}"
        assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
        neg = _resource("edge", "google_compute_region_network_endpoint_group", name)
        assert neg["network_endpoint_type"] == "SERVERLESS"


def test_domain_mapping_alternative_maps_collect_to_sgtm() -> None:
    mapping = _resource("edge", "google_cloud_run_domain_mapping", "collect")
    assert mapping["count"] == "${local.mapping}"
    assert mapping["spec"][0]["route_name"] == "${var.sgtm_service}"
    assert mapping["name"] == "${var.hostname}"


# --- Observability -------------------------------------------------------------------------


def test_log_metrics_and_sink_select_the_sidecar_record_types() -> None:
    metrics = _locals("observability")["metrics"]
    text = str(metrics)
    for kind in ("delivery_failure", "dead_letter", "consent_decision"):
        record = "${var.log_record_types." + kind + "}"
        assert f'jsonPayload.type=\\"{record}\\"' in text or f'jsonPayload.type="{record}"' in text
    sink = _resource("observability", "google_logging_project_sink", "consent_audit")
    assert sink["destination"].startswith("bigquery.googleapis.com/projects/")
    assert "consent_decisions.filter" in sink["filter"]
    variables = _variables(_module_files("observability"))
    types = variables["log_record_types"]["type"]
    for kind in ("consent_decision", "delivery_failure", "dead_letter"):
        assert f'{kind} = optional(string, "{kind}")' in types
    assert 'quarantined = optional(string, "webhook_quarantined")' in " ".join(types.split())
    dataset = _resource("observability", "google_bigquery_dataset", "audit")
    assert dataset["location"] == "${var.bigquery_location}"


def test_alert_policies_cover_the_four_signals_and_uptime() -> None:
    alerts = {
        b.labels[1]: b.body
        for b in hcl.blocks(_module_files("observability"), "resource")
        if b.labels[0] == "google_monitoring_alert_policy"
    }
    assert set(alerts) == {
        "delivery_failures",
        "dead_letters",
        "quarantined_webhooks",
        "server_errors",
        "consent_blocked_jump",
        "uptime",
    }
    for body in alerts.values():
        assert body["notification_channels"] == "${local.channels}"
    assert "5xx" in str(alerts["server_errors"])
    assert "num_undelivered_messages" in str(alerts["dead_letters"])
    assert "offset" in str(alerts["consent_blocked_jump"])
    assert 'google_logging_metric.main["quarantined"]' in str(alerts["quarantined_webhooks"])
    uptime = _resource("observability", "google_monitoring_uptime_check_config", "main")
    assert uptime["http_check"][0]["use_ssl"] is True
    calls = hcl.module_calls()
    checks = calls["observability"]["uptime_checks"]
    assert checks["sgtm"]["path"] == "/healthy"
    assert "/v1/readyz" in str(checks["sidecar"]) and "/readyz" in str(checks["sidecar"])


def test_notification_channel_inputs_exist() -> None:
    root = _variables(hcl.tf_files_in(hcl.TERRAFORM))
    assert root["notification_emails"]["type"] == "${list(string)}"
    assert root["notification_channel_ids"]["type"] == "${list(string)}"


# --- Module shape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "directory",
    [hcl.TERRAFORM, *sorted(p for p in MODULES.iterdir() if p.is_dir())],
    ids=lambda p: p.name,
)
def test_module_has_the_standard_files_and_documented_typed_inputs(directory) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (directory / name).is_file(), f"{directory.name}/{name} is missing"
    files = hcl.tf_files_in(directory)
    for var in hcl.blocks(files, "variable"):
        assert var.body.get("description"), f"{var.file.rel}:{var.line}: no description"
        assert var.body.get("type"), f"{var.file.rel}:{var.line}: no type"
    for out in hcl.blocks(files, "output"):
        assert out.body.get("description"), f"{out.file.rel}:{out.line}: no description"
    (terraform,) = [t for f in files for t in f.doc.get("terraform", [])]
    assert terraform["required_version"] == ">= 1.9"
    if directory.name != "topology":  # provider-free on purpose
        google = terraform["required_providers"][0]["google"]
        assert google == {"source": "hashicorp/google", "version": ">= 6.0, < 7.0"}


def test_root_validates_region_and_domain() -> None:
    root = _variables(hcl.tf_files_in(hcl.TERRAFORM))
    region_rule = root["region"]["validation"][0]
    assert "var.allow_non_eu_region ||" in region_rule["condition"]
    assert "regex" in root["domain"]["validation"][0]["condition"]


def test_root_and_topology_agree_on_the_eu_region_list() -> None:
    def regions(files):
        rule = _variables(files)["region"]["validation"][0]["condition"]
        return sorted(re.findall(r'"(europe-[a-z]+[0-9]+)"', rule))

    assert regions(hcl.tf_files_in(hcl.TERRAFORM)) == regions(_module_files("topology"))


def test_outputs_give_urls_dns_records_and_service_accounts() -> None:
    outputs = {o.labels[0] for o in hcl.blocks(hcl.tf_files_in(hcl.TERRAFORM), "output")}
    assert {"collect_url", "sidecar_url", "service_urls", "dns_records", "service_accounts"} <= (
        outputs
    )


# --- Example ---------------------------------------------------------------------------------


def test_example_sets_only_root_variables_and_matches_the_plan_retention(example_plan_path) -> None:
    example = hcl.parse(hcl.EXAMPLES / "terraform.tfvars.example").doc
    root = _variables(hcl.tf_files_in(hcl.TERRAFORM))
    assert set(example) <= set(root), set(example) - set(root)
    required = {name for name, body in root.items() if "default" not in body}
    assert required <= set(example), required - set(example)
    plan = YAML(typ="safe").load(example_plan_path.read_text(encoding="utf-8"))
    assert example["retention_days"] == plan["retention_days"]
    assert example["region"].startswith("europe-")
    for image in ("sgtm_image", "sidecar_image"):
        assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", example[image]), image


@pytest.mark.parametrize(
    ("module", "name"),
    [("sgtm", "tagging"), ("sgtm", "preview"), ("sidecar", "sidecar")],
)
def test_services_roll_on_secret_rotation_and_leave_traffic_to_sgtm_rollout(module, name) -> None:
    service = _resource(module, "google_cloud_run_v2_service", name)
    (template,) = service["template"]
    annotations = template["annotations"]
    if annotations == "${local.revision_annotations}":
        annotations = _locals(module)["revision_annotations"]
    assert annotations == {"sgtm-companion/secrets-revision": "${var.secrets_revision}"}
    (lifecycle,) = service["lifecycle"]
    assert "${traffic}" in lifecycle["ignore_changes"] or "traffic" in lifecycle["ignore_changes"]
    assert hcl.module_calls()[module]["secrets_revision"] == "${var.secrets_revision}"


def test_sidecar_trusts_exactly_googles_forwarding_entries() -> None:
    env = hcl.module_calls()["sidecar"]["env"]
    assert env.startswith(
        "${merge({SGTM_TRUSTED_PROXIES = tostring(module.topology.trusted_proxies)}"
    )
    assert env.rstrip("}").rstrip(")").endswith("var.sidecar_env")


@pytest.mark.parametrize("directory", readme_tables.module_dirs(), ids=lambda p: p.name)
def test_readme_tables_match_the_module(directory) -> None:
    assert readme_tables.current(directory / "README.md") == readme_tables.render(directory), (
        f"{directory.name}/README.md is stale: run .venv/bin/python -m tests.terraform.readme_tables"
    )


# --- What `terraform validate` would check, without the provider -----------------------------


def _module_variables(name: str) -> dict[str, dict[str, Any]]:
    return _variables(_module_files(name))


@pytest.mark.parametrize("name", sorted(hcl.module_calls()))
def test_module_call_passes_declared_and_required_inputs(name) -> None:
    body = hcl.module_calls()[name]
    declared = _module_variables(name)
    passed = {k for k in body if k not in ("source", "depends_on", hcl.BLOCK)}
    assert passed <= set(declared), f"module.{name}: unknown inputs {passed - set(declared)}"
    required = {k for k, v in declared.items() if "default" not in v}
    assert required <= passed, f"module.{name}: missing inputs {required - passed}"


def test_root_references_only_existing_module_outputs() -> None:
    outputs = {
        name: {o.labels[0] for o in hcl.blocks(_module_files(name), "output")}
        for name in hcl.module_calls()
    }
    text = "\n".join(f.text for f in hcl.tf_files_in(hcl.TERRAFORM))
    refs = set(re.findall(r"module\.([a-z_]+)\.([a-z_]+)", text))
    assert refs, "the root must use module outputs"
    missing = sorted(f"module.{m}.{o}" for m, o in refs if o not in outputs.get(m, set()))
    assert missing == []


@pytest.mark.parametrize("directory", readme_tables.module_dirs(), ids=lambda p: p.name)
def test_every_variable_is_used(directory) -> None:
    files = hcl.tf_files_in(directory)
    text = "\n".join(f.text for f in files)
    unused = [
        v.labels[0]
        for v in hcl.blocks(files, "variable")
        if not re.search(rf"var\.{v.labels[0]}\b", text)
    ]
    assert unused == []


def test_blocked_filter_matches_the_sidecar_outcome_name() -> None:
    # The consent-blocked metric finds records by this outcome string; if the sidecar renames
    # it, the alert would silently stop counting.
    decide = (hcl.REPO / "sidecar" / "decision" / "consent.py").read_text(encoding="utf-8")
    assert 'BLOCKED = "blocked_no_consent"' in decide
    blocked = _locals("observability")["metrics"]["consent_blocked"]["filter"]
    assert blocked.endswith('AND "blocked_no_consent"')
