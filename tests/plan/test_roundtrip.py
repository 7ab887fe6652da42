"""Property: any valid plan survives dump -> load unchanged, and compiles deterministically."""

from __future__ import annotations

import dataclasses
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from formats.contract import artifacts
from formats.plan import load_plan_text
from formats.plan.dump import dump_yaml
from formats.plan.model import DESTINATION_KINDS, PII_FIELDS

names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
SETTINGS = {
    "ga4": {"measurement_id": "G-ABCD1234"},
    "meta_capi": {"pixel_id": "1234567890"},
    "google_ads": {"customer_id": "123-456-7890"},
    "bigquery": {"project": "acme-analytics", "dataset": "events", "table": "raw"},
    "http": {"url": "https://hooks.example.com/x"},
}
CREDENTIALS = {
    "ga4": {"api_secret": "GA4_API_SECRET"},
    "meta_capi": {"access_token": "META_ACCESS_TOKEN"},
    "google_ads": {"developer_token": "GOOGLE_ADS_DEVELOPER_TOKEN"},
    "bigquery": {},
    "http": {"bearer_token": "HTTP_TOKEN"},
}
KIND_PII = {"ga4": PII_FIELDS[:8], "google_ads": PII_FIELDS[:8]}


@st.composite
def params(draw):
    out = {}
    for name in draw(st.lists(names, max_size=5, unique=True)):
        ptype = draw(
            st.sampled_from(
                ["string", "number", "integer", "boolean", "currency", "timestamp", "items"]
            )
        )
        spec = {"type": ptype}
        if draw(st.booleans()):
            spec["required"] = True
        if ptype == "string":
            if draw(st.booleans()):
                spec["max_length"] = draw(st.integers(1, 500))
            if draw(st.booleans()):
                spec["enum"] = draw(st.lists(names, min_size=1, max_size=4, unique=True))
        if ptype in ("number", "integer"):
            low = draw(st.integers(-100, 100))
            spec["min"] = low
            if draw(st.booleans()):
                spec["max"] = low + draw(st.integers(0, 1000))
        out[name] = spec
    return out


@st.composite
def plans(draw):
    event_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    events = {}
    for name in event_names:
        ps = draw(params())
        if name in ("purchase", "refund"):
            ps["transaction_id"] = {"type": "string", "required": True}
        for canon, ptype in (("value", "number"), ("currency", "currency"), ("items", "items")):
            if canon in ps:
                ps[canon] = {"type": ptype}
        events[name] = {"params": ps}
    user_data = draw(st.lists(st.sampled_from(PII_FIELDS), unique=True))
    destinations = {}
    for dname in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        kind = draw(st.sampled_from(DESTINATION_KINDS))
        allowed = [f for f in user_data if f in KIND_PII.get(kind, PII_FIELDS)]
        destinations[dname] = {
            "kind": kind,
            "purposes": draw(
                st.lists(
                    st.sampled_from(["analytics", "ads", "functional"]), min_size=1, unique=True
                )
            ),
            "events": _events(
                kind, draw(st.lists(st.sampled_from(event_names), min_size=1, unique=True))
            ),
            "pii": draw(st.lists(st.sampled_from(allowed), unique=True)) if allowed else [],
            "ip": draw(st.sampled_from(["none", "anonymized", "full"])),
            "rollout": draw(st.integers(0, 100)),
            "settings": SETTINGS[kind],
            "credentials": CREDENTIALS[kind],
        }
    return {
        "plan": "prop-shop",
        "version": f"{draw(st.integers(0, 9))}.{draw(st.integers(0, 9))}.{draw(st.integers(0, 9))}",
        "currency": "EUR",
        "region": "europe-west1",
        "retention_days": draw(st.integers(1, 3650)),
        "consent": {"missing": draw(st.sampled_from(["strict", "by_basis"]))},
        "user_data": {"fields": user_data},
        "events": events,
        "destinations": destinations,
    }


def _events(kind: str, names: list[str]):
    # Google Ads events map to numeric conversion action ids; the others keep their names.
    return {n: str(1000 + i) for i, n in enumerate(names)} if kind == "google_ads" else names


def _yaml(data) -> str:
    yaml = YAML(typ="safe", pure=True)
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_valid_plan_round_trips(data):
    plan = load_plan_text(_yaml(data), "generated.yaml")
    again = load_plan_text(dump_yaml(plan), "dumped.yaml")
    assert dataclasses.replace(again, source_path="") == dataclasses.replace(plan, source_path="")
    assert artifacts(again) == artifacts(plan)


def test_every_destination_field_survives_the_dump():
    # The dump and the policy read one serialisation (Destination.to_dict); before it, the dump
    # dropped the rate limit, the description and the recipient of a destination.
    text = """
plan: shop
version: "1.0.0"
currency: EUR
region: europe-west1
retention_days: 30
events:
  purchase:
    params:
      transaction_id: {type: string, required: true}
destinations:
  crm:
    kind: http
    description: The CRM's order hook.
    purposes: [functional]
    events: [purchase]
    max_rate_per_s: 5
    settings: {url: "https://hooks.example.com/x"}
    recipient: {vendor: Acme CRM, location: EU}
"""
    plan = load_plan_text(text)
    again = load_plan_text(dump_yaml(plan))
    crm = again.destinations["crm"]
    assert crm.max_rate_per_s == 5 and crm.description == "The CRM's order hook."
    assert (crm.recipient.vendor, crm.recipient.location) == ("Acme CRM", "EU")
    assert again.destinations == plan.destinations
