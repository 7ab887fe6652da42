"""The plan model as loaded from YAML: defaults, invariants, references, secrets."""

from __future__ import annotations

import pytest

from formats.plan import PlanError, load_plan, load_plan_text
from formats.plan.loader import looks_like_secret, suggest
from formats.plan.model import BUILTIN_PURPOSES, DEFAULT_RETRY_WINDOW_HOURS

MINIMAL = """\
plan: tiny
version: "2.1.0-rc.1"
currency: EUR
region: europe-west4
retention_days: 30
events:
  purchase:
    params:
      transaction_id: {type: string, required: true}
destinations:
  ga4:
    kind: ga4
    purposes: [analytics]
    events: [purchase]
    settings: {measurement_id: G-ABCD1234}
    credentials: {api_secret: GA4_API_SECRET}
"""


def test_example_plan_loads_with_every_destination_kind(example_plan_path):
    plan = load_plan(example_plan_path)
    assert plan.name == "acme-home"
    assert str(plan.version) == "1.0.0"
    kinds = {d.kind for d in plan.destinations.values()}
    assert kinds == {"ga4", "meta_capi", "google_ads", "bigquery", "http"}
    assert {"view_item", "add_to_cart", "begin_checkout", "purchase", "refund"} <= set(plan.events)
    assert plan.events["newsletter_signup"].canonical is False
    assert plan.consent.analytics_without_consent == "anonymize"
    assert plan.purposes["functional"].basis == "legitimate_interest"
    meta = plan.destinations["meta"]
    assert meta.events["purchase"] == "Purchase"
    assert meta.hashing == "meta" and plan.destinations["google_ads"].hashing == "google"
    assert meta.rollout == 50 and meta.ip == "full" and meta.user_agent is True


def test_defaults_are_filled_from_the_platform_limits():
    plan = load_plan_text(MINIMAL, "tiny.yaml")
    ga4 = plan.destinations["ga4"]
    assert ga4.retry_window_hours == DEFAULT_RETRY_WINDOW_HOURS["ga4"] == 72
    assert ga4.settings == {"endpoint": "eu", "measurement_id": "G-ABCD1234"}
    assert ga4.rollout == 100 and ga4.mode == "live" and ga4.ip == "anonymized"
    assert set(plan.purposes) == set(BUILTIN_PURPOSES)
    assert plan.consent.missing == "strict"
    assert str(plan.version) == "2.1.0-rc.1"
    assert plan.delivery.client_path == "/s2s/events"


def test_rollout_zero_is_kept():
    plan = load_plan_text(
        MINIMAL.replace("    events: [purchase]\n", "    events: [purchase]\n    rollout: 0\n")
    )
    assert plan.destinations["ga4"].rollout == 0


def test_secret_references_are_names_never_values(example_plan_path):
    plan = load_plan(example_plan_path)
    refs = {ref.env: ref.where for ref in plan.secret_refs()}
    assert refs["SHOPIFY_WEBHOOK_SECRET"] == "sources.shopify.secret"
    assert refs["META_ACCESS_TOKEN"] == "destinations.meta.credentials.access_token"
    assert refs["SGTM_DELIVERY_KEYS"] == "delivery.keys"
    assert all(name.isupper() for name in refs)


def test_destinations_for_an_event(example_plan_path):
    plan = load_plan(example_plan_path)
    assert [d.name for d in plan.destinations_for("purchase")] == [
        "ga4",
        "meta",
        "google_ads",
        "warehouse",
        "crm",
    ]
    assert [d.name for d in plan.destinations_for("newsletter_signup")] == [
        "ga4",
        "warehouse",
        "crm",
    ]


def test_plan_error_carries_every_problem_sorted():
    text = MINIMAL.replace("currency: EUR", "currency: eur").replace("[analytics]", "[analytix]")
    with pytest.raises(PlanError) as info:
        load_plan_text(text, "x.yaml")
    problems = info.value.problems
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert len(problems) == 2
    assert "x.yaml:3:11: error: currency" in info.value.report()


def test_missing_file_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "nope.yaml")
    assert "cannot read the plan" in info.value.report()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("META_ACCESS_TOKEN", False),
        ("EAAGm0PX4ZCpsBAKZCZB", True),
        ("shpss_0123456789abcdef", True),
        ("sk_live_51H8abcdefghijkl", True),
        ("whsec_abc", True),
        ("aB3dE5gH7jK9mN1pQ3sT5vX7", True),
        ("meta-token", False),
        ("https://example.com/hook", False),
    ],
)
def test_secret_detection(value, expected):
    assert looks_like_secret(value) is expected


def test_suggestions_prefer_prefixes_then_spelling():
    assert suggest("meta", ["ga4", "meta_capi"]) == "did you mean 'meta_capi'?"
    assert suggest("requird", ["required", "enum"]) == "did you mean 'required'?"
    assert suggest("colour", ["rollout", "kind"]) == ""


def test_the_sidecar_reads_source_secrets_and_the_keyset_only(example_plan_path):
    plan = load_plan(example_plan_path)
    sidecar = {ref.env for ref in plan.sidecar_secret_refs()}
    assert sidecar == {
        "WEB_TOKEN_KEYS",
        "WEB_SIGNING_KEYS",
        "SHOPIFY_WEBHOOK_SECRET",
        "WOOCOMMERCE_WEBHOOK_SECRET",
        "STRIPE_WEBHOOK_SECRET",
        "SGTM_DELIVERY_KEYS",
    }
    assert {"META_ACCESS_TOKEN", "GA4_API_SECRET"} <= {r.env for r in plan.secret_refs()} - sidecar
