"""Deployment policies over the parsed HCL: EU locations, ingress, secrets, retention, image
pins, least privilege and labels.

Each rule takes the parsed files (plus, where it needs them, the provider schema) and returns
findings; an empty list means the rule holds. Expressions are not evaluated: a location or an
ingress must be a literal from the allowed set or a variable whose value the topology module
computes and its `terraform test` suite pins down (test_terraform_cli.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tests.terraform.hcl import Block, Finding, TfFile, blocks, nested, walk_strings

EU_REGIONS = frozenset(
    {
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west3",
        "europe-west4",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
    }
)
EU_MULTI_REGIONS = frozenset({"EU", "eu", "eur3"})
LOCATION_ATTRIBUTES = ("location", "region", "location_id")
# Module variables that carry a location; the root must feed them from the topology module,
# whose variables are EU-validated.
LOCATION_VARIABLES = frozenset(
    {
        "region",
        "firestore_location",
        "bigquery_location",
        "log_bucket_location",
        "storage_regions",
        "replica_locations",
    }
)
INGRESS_VALUES = frozenset(
    {
        "INGRESS_TRAFFIC_ALL",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    }
)
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
# Roles a project-wide grant may carry; each needs a condition narrowing it (Firestore has no
# per-database IAM, so its grant is project-level with a database condition).
PROJECT_ROLES_WITH_CONDITION = frozenset({"roles/datastore.user", "roles/datastore.viewer"})
DIGEST_REF = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|_KEYS$|CREDENTIAL|API_KEY")
SECRET_VALUE_PATTERNS = (
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("Stripe secret", re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{10,}")),
    ("Stripe webhook secret", re.compile(r"\bwhsec_[A-Za-z0-9]{10,}")),
    ("Shopify secret", re.compile(r"\bshp(ss|at|ca|pa)_[A-Fa-f0-9]{16,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{30,}")),
    (
        "keyset with an inline key",
        re.compile(r'"keys"\s*:\s*\{\s*"[^"]+"\s*:\s*"[A-Za-z0-9+/=]{8,}'),
    ),
    ("GA4 API secret", re.compile(r"\bapi_secret=[A-Za-z0-9_-]{8,}")),
)


def _is_expr(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${")


def _var_name(value: Any) -> str | None:
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{var\.([a-z_0-9]+)\}", value)
        if match:
            return match.group(1)
    return None


def resources(files: Iterable[TfFile]) -> list[Block]:
    return [b for b in blocks(files, "resource") if b.labels[0].startswith("google")]


# --- EU locations -------------------------------------------------------------------------


def eu_locations(files: list[TfFile], schema: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for res in resources(files):
        spec = schema["resources"].get(res.labels[0], {"attributes": {}})
        for attr in LOCATION_ATTRIBUTES:
            if attr not in spec["attributes"]:
                continue
            value = res.body.get(attr)
            if value is None:
                # An omitted location falls back to the provider default or, worse, to a
                # service default such as US; every regional resource must say where it lives.
                out.append(res.finding((), f"{attr} is not set; name an EU location explicitly"))
            else:
                out += _location_value(res, (attr,), value)
        if res.labels[0] == "google_pubsub_topic":
            policy = nested(res.body, "message_storage_policy")
            if not policy:
                msg = "no message_storage_policy: Pub/Sub may persist messages outside the EU"
                out.append(res.finding((), msg))
            for p in policy:
                value = p.get("allowed_persistence_regions")
                out += _location_value(res, ("message_storage_policy",), value)
        if res.labels[0] == "google_secret_manager_secret":
            for repl in nested(res.body, "replication"):
                if "auto" in repl or not nested(repl, "user_managed"):
                    msg = "replication must be user_managed in EU regions (auto may replicate anywhere)"
                    out.append(res.finding(("replication",), msg))
                for um in nested(repl, "user_managed"):
                    for rep in nested(um, "replicas"):
                        path = ("replication", "user_managed", "replicas", "location")
                        out += _location_value(res, path, rep.get("location"))
    return out


def _location_value(res: Block, path: tuple[str, ...], value: Any) -> list[Finding]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if v is None:
            out.append(res.finding(path, f"{path[-1]} is not set"))
        elif _is_expr(v):
            ref = re.fullmatch(r"\$\{(var\.([a-z_0-9]+)|[a-z_]+\.value)\}", v)
            if not ref or (ref.group(2) and ref.group(2) not in LOCATION_VARIABLES):
                msg = f"{path[-1]} = {v} is not a location variable the root feeds from topology"
                out.append(res.finding(path, msg))
        elif v not in EU_REGIONS | EU_MULTI_REGIONS:
            out.append(res.finding(path, f"{path[-1]} = {v!r} is not an EU location"))
    return out


def location_wiring(module_calls: dict[str, dict[str, Any]]) -> list[str]:
    """Location inputs of every module call must come from module.topology (EU-validated)."""
    out = []
    for name, body in sorted(module_calls.items()):
        if name == "topology":
            continue
        for key in sorted(LOCATION_VARIABLES & set(body)):
            value = body[key]
            if not (isinstance(value, str) and value.startswith("${module.topology.")):
                out.append(f"module.{name}.{key} = {value!r} does not come from module.topology")
    return out


# --- Ingress --------------------------------------------------------------------------------


def ingress(files: list[TfFile]) -> list[Finding]:
    out = []
    for res in resources(files):
        if res.labels[0] != "google_cloud_run_v2_service":
            continue
        value = res.body.get("ingress")
        if value is None:
            msg = "ingress is not set (the default admits all internet traffic)"
            out.append(res.finding((), msg))
        elif _is_expr(value):
            if _var_name(value) not in {"ingress", "preview_ingress"}:
                msg = f"ingress = {value} is not the module's validated ingress variable"
                out.append(res.finding(("ingress",), msg))
        elif value not in INGRESS_VALUES:
            out.append(res.finding(("ingress",), f"ingress = {value!r} is not a Cloud Run value"))
        elif value == "INGRESS_TRAFFIC_ALL":
            msg = "ingress is hard-coded to INGRESS_TRAFFIC_ALL; take it from the topology module"
            out.append(res.finding(("ingress",), msg))
    return out


# --- Secrets --------------------------------------------------------------------------------


def no_inline_secrets(files: list[TfFile]) -> list[Finding]:
    out = []
    for res in resources(files):
        if res.labels[0] == "google_secret_manager_secret_version":
            msg = "secret versions put the value into .tf files and state; add values with gcloud"
            out.append(res.finding((), msg))
        for path, value in walk_strings(res.body):
            for what, pattern in SECRET_VALUE_PATTERNS:
                if pattern.search(value):
                    out.append(res.finding(path, f"looks like an inline {what}"))
        if res.labels[0] == "google_cloud_run_v2_service":
            for tpl in nested(res.body, "template"):
                for container in nested(tpl, "containers"):
                    for env in nested(container, "env"):
                        out += _env_secret(res, env)
    return out


def _env_secret(res: Block, env: dict[str, Any]) -> list[Finding]:
    name = env.get("name", "")
    if _is_expr(name) or not SECRET_NAME.search(name):
        return []
    value = env.get("value")
    if value is None:
        return []
    # A path to a mounted secret file (SGTM_CREDENTIALS) is not the secret itself.
    if isinstance(value, str) and (value.startswith("/") or value.startswith("${local.")):
        return []
    path = ("template", "containers", "env", "value")
    return [res.finding(path, f"env {name} has a literal value; use value_source.secret_key_ref")]


def tfvars_secrets(file: TfFile) -> list[Finding]:
    """Example variables: no value that looks like a secret, no secret-named plain variable."""
    out = []
    for key, value in file.doc.items():
        line = file.line_of(1, [key])
        for _, text in walk_strings(value):
            for what, pattern in SECRET_VALUE_PATTERNS:
                if pattern.search(text):
                    out.append(Finding(file.rel, line, key, f"looks like an inline {what}"))
        if key == "sidecar_env" and isinstance(value, dict):
            for env in value:
                if SECRET_NAME.search(env):
                    msg = f"{env} looks like a secret; put it in sidecar_secret_env"
                    out.append(Finding(file.rel, line, key, msg))
    return out


# --- Images ---------------------------------------------------------------------------------


def digest_pinned_images(files: list[TfFile]) -> list[Finding]:
    """Every container image is a literal digest reference or a digest-validated variable."""
    digest_vars = _digest_validated_variables(files)
    out = []
    for res in resources(files):
        if res.labels[0] != "google_cloud_run_v2_service":
            continue
        for tpl in nested(res.body, "template"):
            for container in nested(tpl, "containers"):
                image = container.get("image")
                path = ("template", "containers", "image")
                var = _var_name(image)
                if var is not None:
                    if (res.file.path.parent, var) not in digest_vars:
                        msg = f"image comes from var.{var}, which has no @sha256 digest validation"
                        out.append(res.finding(path, msg))
                elif not (isinstance(image, str) and DIGEST_REF.match(image)):
                    out.append(res.finding(path, f"image {image!r} is not pinned by digest"))
    return out


def _digest_validated_variables(files: list[TfFile]) -> set[tuple[Any, str]]:
    found = set()
    for var in blocks(files, "variable"):
        for rule in var.body.get("validation", []):
            if "@sha256:" in str(rule.get("condition", "")):
                found.add((var.file.path.parent, var.labels[0]))
    return found


# --- Least privilege ------------------------------------------------------------------------


def least_privilege(files: list[TfFile]) -> list[Finding]:
    out = []
    for res in resources(files):
        kind = res.labels[0]
        if kind.endswith(("_iam_binding", "_iam_policy")):
            msg = (
                "authoritative IAM resources replace grants made outside Terraform; use _iam_member"
            )
            out.append(res.finding((), msg))
        if not kind.endswith("_iam_member"):
            continue
        role, member = res.body.get("role"), res.body.get("member")
        if not isinstance(role, str) or _is_expr(role):
            out.append(res.finding(("role",), f"role must be a literal, not {role!r}"))
            continue
        if role in PRIMITIVE_ROLES:
            out.append(res.finding(("role",), f"{role} is a primitive role; grant a narrow one"))
        elif role.endswith((".admin", "Admin")):
            out.append(res.finding(("role",), f"{role} is an admin role; grant a narrow one"))
        if isinstance(member, str) and member in PUBLIC_MEMBERS:
            msg = f"{member} grant; public services use invoker_iam_disabled instead"
            out.append(res.finding(("member",), msg))
        if kind == "google_project_iam_member":
            if role not in PROJECT_ROLES_WITH_CONDITION:
                msg = f"project-wide {role}; grant it on the resource instead"
                out.append(res.finding(("role",), msg))
            elif not nested(res.body, "condition"):
                msg = f"project-wide {role} needs a condition narrowing it to one resource"
                out.append(res.finding(("role",), msg))
    return out


# --- Retention ------------------------------------------------------------------------------


def retention(files: list[TfFile], ttl_collections: Iterable[str]) -> list[Finding]:
    out = []
    ttl_fields = []
    has_bucket = False
    for res in resources(files):
        kind = res.labels[0]
        if kind == "google_logging_project_bucket_config":
            has_bucket = True
            if _var_name(res.body.get("retention_days")) != "retention_days":
                msg = "retention_days must be var.retention_days (the plan's retention)"
                out.append(res.finding(("retention_days",), msg))
        if kind == "google_bigquery_dataset":
            attr = "default_partition_expiration_ms"
            if "var.retention_days" not in str(res.body.get(attr, "")):
                msg = f"{attr} must derive from var.retention_days"
                out.append(res.finding((attr,), msg))
            if "default_table_expiration_ms" in res.body:
                # Sink tables are date-partitioned; a table expiry deletes recent days too.
                msg = "default_table_expiration_ms drops whole tables; expire partitions instead"
                out.append(res.finding(("default_table_expiration_ms",), msg))
        if kind == "google_pubsub_subscription" and "message_retention_duration" not in res.body:
            msg = "message_retention_duration is not set"
            out.append(res.finding(("message_retention_duration",), msg))
        if kind == "google_firestore_field" and nested(res.body, "ttl_config"):
            ttl_fields.append(res)
    if not has_bucket:
        out.append(Finding("terraform", 0, "-", "no google_logging_project_bucket_config"))
    if not ttl_fields:
        out.append(Finding("terraform", 0, "-", "no google_firestore_field with ttl_config"))
    for res in ttl_fields:
        if res.body.get("field") != "expire_at":
            out.append(res.finding(("field",), "the TTL field must be expire_at"))
    collections = set(ttl_collections)
    for need in ("idempotency", "contexts", "ledger", "dead_letters"):
        if need not in collections:
            out.append(Finding("terraform", 0, "-", f"no TTL policy for collection {need}"))
    return out


# --- Labels ---------------------------------------------------------------------------------


def labels(files: list[TfFile], schema: dict[str, Any]) -> list[Finding]:
    out = []
    for res in resources(files):
        attrs = schema["resources"].get(res.labels[0], {"attributes": {}})["attributes"]
        # Monitoring resources call their resource labels user_labels (their `labels` is
        # channel configuration).
        key = "user_labels" if "user_labels" in attrs else "labels" if "labels" in attrs else None
        if key and key not in res.body:
            out.append(res.finding((), f"{key} is not set"))
        if res.labels[0] == "google_cloud_run_v2_service":
            for tpl in nested(res.body, "template"):
                if "labels" not in tpl:
                    out.append(res.finding(("template",), "revision template has no labels"))
    return out
