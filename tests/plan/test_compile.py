"""Compiled schemas and policy: golden files, validity, determinism, and what they accept."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path

import jsonschema
import pytest

from formats.contract import artifacts, consent_matrix, envelope_schema
from formats.plan import load_plan
from sgtm.cli import main

# The compiled artifacts are part of `sgtm generate`'s golden tree (tests/regen_golden.py).
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "shop"

PURCHASE = {
    "schema": 1,
    "event_name": "purchase",
    "event_id": "shopify-1001-purchase",
    "timestamp": 1_732_870_000_000,
    "client_id": "1234567890.1732860000",
    "consent": {"analytics": True, "ads": False},
    "params": {
        "transaction_id": "1001",
        "currency": "EUR",
        "value": 59.9,
        "tax": 10.4,
        "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95, "brand": "Acme"}],
    },
    "user_data": {"email": "ana@example.com"},
    "context": {"page_location": "https://shop.acme-home.example/thanks", "gcs": "G111"},
}


@pytest.fixture(scope="module")
def plan(example_plan_path):
    return load_plan(example_plan_path)


@pytest.fixture(scope="module")
def validator(plan):
    return jsonschema.Draft202012Validator(envelope_schema(plan))


def test_compiled_artifacts_match_the_golden_files(plan):
    files = artifacts(plan)
    golden = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file()}
    assert set(files) <= golden
    assert {g for g in golden if g.startswith("schemas/")} == {
        f for f in files if f.startswith("schemas/")
    }
    for rel, text in files.items():
        assert (GOLDEN / rel).read_text(encoding="utf-8") == text, f"{rel} differs from golden"


def test_cli_writes_the_same_bytes_twice(tmp_path, example_plan_path, capsys):
    for out in ("a", "b"):
        assert main(["plan", "schema", str(example_plan_path), "-o", str(tmp_path / out)]) == 0
    capsys.readouterr()
    for path in (tmp_path / "a").rglob("*.json"):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes()


def test_every_schema_is_valid_draft_2020_12(plan):
    for rel, text in artifacts(plan).items():
        if rel.startswith("schemas/"):
            jsonschema.Draft202012Validator.check_schema(json.loads(text))


def test_a_good_purchase_is_valid(validator):
    assert list(validator.iter_errors(PURCHASE)) == []


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda e: e["params"].pop("transaction_id"), "/params"),
        (lambda e: e["params"].update(value="59.90"), "/params/value"),
        (lambda e: e["params"].update(currency="eur"), "/params/currency"),
        (lambda e: e["params"].update(value=-1), "/params/value"),
        (lambda e: e["params"]["items"][0].update(qty=0), "/params/items/0/qty"),
        (lambda e: e["params"]["items"][0].pop("id"), "/params/items/0"),
        (lambda e: e["params"].update(payment_type="cash"), "/params/payment_type"),
        (lambda e: e.update(event_name="purchased"), "/event_name"),
        (lambda e: e.update(timestamp=1_732_870_000), "/timestamp"),
        (lambda e: e.update(schema=0), "/schema"),
        (lambda e: e["consent"].update(marketing=True), "/consent"),
        (lambda e: e["user_data"].update(ssn="x"), "/user_data"),
        (lambda e: e["context"].update(cookie="x"), "/context"),
        (lambda e: e.update(event_id="has spaces"), "/event_id"),
    ],
)
def test_invalid_envelopes_are_rejected_with_a_pointer(validator, mutate, pointer):
    event = copy.deepcopy(PURCHASE)
    mutate(event)
    errors = list(validator.iter_errors(event))
    assert errors, "expected a validation error"
    pointers = {"/" + "/".join(str(p) for p in e.absolute_path) for e in errors}
    assert pointer in pointers or any(p.startswith(pointer) for p in pointers)


def test_custom_event_params_are_checked(validator):
    event = {
        "schema": 1,
        "event_name": "newsletter_signup",
        "event_id": "n-1",
        "timestamp": 1_732_870_000_000,
        "consent": {},
        "params": {"method": "popup"},
    }
    assert list(validator.iter_errors(event)) == []
    event["params"]["method"] = "carrier-pigeon"
    assert list(validator.iter_errors(event))


def test_consent_matrix_names_required_purposes(plan):
    matrix = consent_matrix(plan)
    assert matrix["purchase"] == {
        "ga4": ["analytics"],
        "meta": ["ads"],
        "google_ads": ["ads"],
        "warehouse": ["analytics"],
        "crm": ["functional"],
    }
    assert "meta" not in matrix["refund"]


def test_policy_holds_secret_names_only(plan):
    policy = json.loads(artifacts(plan)["policy.json"])
    assert policy["sources"]["shopify"]["secrets"] == {"secret": "SHOPIFY_WEBHOOK_SECRET"}
    assert policy["destinations"]["meta"]["credentials"] == {"access_token": "META_ACCESS_TOKEN"}
    assert policy["destinations"]["meta"]["hashing"] == "meta"
    assert policy["delivery"]["keys"] == "SGTM_DELIVERY_KEYS"


def test_one_event_change_gives_a_small_diff(example_plan_path, tmp_path):
    from formats.plan import load_plan_text

    text = example_plan_path.read_text()
    changed = text.replace("      method: {type: string, required: true, enum: [footer, popup, checkout]}",
                           "      method: {type: string, required: true, enum: [footer, popup, checkout, quiz]}")  # fmt: skip
    assert changed != text
    before = artifacts(load_plan_text(text)).items()
    after = dict(artifacts(load_plan_text(changed)))
    changed_lines = 0
    for rel, old in before:
        diff = difflib.unified_diff(old.splitlines(), after[rel].splitlines(), lineterm="", n=0)
        changed_lines += sum(
            1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))
        )
    assert 0 < changed_lines <= 6
