"""One definition of the GCP backend's Pub/Sub and Firestore names and limits
(sidecar/store/gcp_topology.py), and the store, the Terraform module and docs/delivery.md
held to it. They had drifted apart ("-dead" and 100 deliveries in the store and the docs,
"-dead-letter" and 10 in Terraform)."""

from __future__ import annotations

import inspect
import re

from sidecar.store import gcp_topology as t
from sidecar.store.gcp import GcpStore
from tests.conftest import REPO

MODULE = REPO / "terraform" / "modules" / "sidecar"


def _variable_default(path, name: str) -> str:
    text = path.read_text(encoding="utf-8")
    block = re.search(rf'variable "{name}" {{(.*?)\n}}', text, re.S)
    assert block, f"{path}: no variable {name}"
    default = re.search(r"\n\s*default\s*=\s*(\S+)", block.group(1))
    assert default, f"{path}: variable {name} has no default"
    return default.group(1).strip('"')


def test_the_store_defaults_are_the_topology() -> None:
    init = inspect.signature(GcpStore.__init__).parameters
    assert init["topic"].default == t.DEFAULT_TOPIC
    assert init["subscription"].default == t.DEFAULT_SUBSCRIPTION
    ensure = inspect.signature(GcpStore.ensure_topology).parameters
    assert ensure["max_delivery_attempts"].default == t.MAX_DELIVERY_ATTEMPTS
    lo, hi = t.MAX_DELIVERY_ATTEMPTS_RANGE
    assert lo <= t.MAX_DELIVERY_ATTEMPTS <= hi


def test_the_store_writes_only_the_listed_collections() -> None:
    store = (REPO / "sidecar" / "store" / "gcp.py").read_text(encoding="utf-8")
    assert set(re.findall(r'collection\("([a-z_]+)"\)', store)) == set(t.COLLECTIONS)


def test_dead_letter_topic_is_named_as_terraform_names_it() -> None:
    assert t.dead_letter_topic_for(t.DEFAULT_TOPIC) == t.NAME_PREFIX + t.DEAD_LETTER_SUFFIX
    path = "projects/p/topics/" + t.DEFAULT_TOPIC
    assert t.dead_letter_topic_for(path) == "projects/p/topics/sgtm-dead-letter"


def test_terraform_creates_the_same_topology() -> None:
    main = (MODULE / "main.tf").read_text(encoding="utf-8")
    assert f'topic_name        = "${{var.name_prefix}}{t.TOPIC_SUFFIX}"' in main
    assert f'subscription_name = "${{var.name_prefix}}{t.SUBSCRIPTION_SUFFIX}"' in main
    dead = re.search(r'resource "google_pubsub_topic" "dead_letter" \{(.*?)\n\}', main, re.S)
    assert dead and f'"${{var.name_prefix}}{t.DEAD_LETTER_SUFFIX}"' in dead.group(1)
    variables = MODULE / "variables.tf"
    assert int(_variable_default(variables, "max_delivery_attempts")) == t.MAX_DELIVERY_ATTEMPTS
    assert int(_variable_default(variables, "ack_deadline_seconds")) == t.ACK_DEADLINE_S
    assert _variable_default(variables, "retry_minimum_backoff") == f"{t.MIN_BACKOFF_S}s"
    assert _variable_default(variables, "retry_maximum_backoff") == f"{t.MAX_BACKOFF_S}s"
    root = REPO / "terraform" / "variables.tf"
    assert _variable_default(root, "name_prefix") == t.NAME_PREFIX
    assert int(_variable_default(root, "max_delivery_attempts")) == t.MAX_DELIVERY_ATTEMPTS
    lo, hi = t.MAX_DELIVERY_ATTEMPTS_RANGE
    assert f"var.max_delivery_attempts >= {lo} && var.max_delivery_attempts <= {hi}" in (
        variables.read_text(encoding="utf-8")
    )


def test_docs_describe_the_same_topology() -> None:
    doc = (REPO / "docs" / "delivery.md").read_text(encoding="utf-8")
    flat = " ".join(doc.split())
    assert f"`SGTM_PUBSUB_TOPIC` (default `{t.DEFAULT_TOPIC}`)" in flat
    assert f"`SGTM_PUBSUB_SUBSCRIPTION` (`{t.DEFAULT_SUBSCRIPTION}`)" in flat
    assert f"`<prefix>{t.DEAD_LETTER_SUFFIX}` dead-letter topic" in flat
    assert f"`ack_deadline {t.ACK_DEADLINE_S} s`" in flat
    assert f"retry policy {t.MIN_BACKOFF_S} s to {t.MAX_BACKOFF_S} s" in flat
    assert f"after {t.MAX_DELIVERY_ATTEMPTS} deliveries" in flat
    for collection in t.COLLECTIONS:
        assert f"`{collection}`" in doc
