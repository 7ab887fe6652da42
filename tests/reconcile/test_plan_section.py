"""The plan's reconcile section: defaults, and every mistake reported at its position."""

from __future__ import annotations

from formats.plan.dump import dump_yaml
from formats.plan.loader import check_plan_text, load_plan_text
from formats.plan.model import Band, Reconcile
from tests.reconcile.plans import PLAN

BASE = PLAN.split("reconcile:")[0]


def _problems(section: str) -> list[str]:
    plan, problems = check_plan_text(BASE + section, "p.yaml")
    assert plan is None
    return [str(p) for p in problems]


def test_absent_section_gives_the_defaults():
    plan = load_plan_text(BASE, "p.yaml")
    assert plan.reconcile == Reconcile()
    assert plan.reconcile.band_for("meta") == Band(3.0, 10.0)
    assert plan.reconcile.timezone == "UTC" and plan.reconcile.events == ("purchase",)


def test_section_round_trips_through_dump():
    plan = load_plan_text(
        PLAN + "  destinations:\n    meta: {band: {target_pct: 5, tolerance_pct: 20}}\n"
        "  pulls:\n    stripe: {credentials: {api_key: STRIPE_API_KEY}}\n",
        "p.yaml",
    )
    again = load_plan_text(dump_yaml(plan), "p.yaml")
    assert again.reconcile == plan.reconcile
    assert again.reconcile.band_for("meta") == Band(5.0, 20.0)


def test_mistakes_name_line_and_field():
    problems = _problems(
        "reconcile:\n"
        "  timezone: Europe/Madird\n"
        "  events: [purchse]\n"
        "  band: {target_pct: 12, tolerance_pct: 10}\n"
        "  destinations:\n"
        "    tiktok: {latency_sla_minutes: 5}\n"
        "  pulls:\n"
        "    web: {}\n"
        "    shopify: {shop: not-a-shop, credentials: {access_token: shpat_0123456789abcdef0123}}\n"
        "  ga4_property: G-ABC\n"
    )
    text = "\n".join(problems)
    line = BASE.count("\n") + 2  # the timezone line
    assert f"p.yaml:{line}:13: error: reconcile.timezone: 'Europe/Madird' is not an IANA" in text
    assert f"p.yaml:{line + 1}:12: error: reconcile.events[0]: unknown event 'purchse'" in text
    assert "reconcile.band: target_pct (12) is wider than tolerance_pct (10)" in text
    assert "reconcile.destinations.tiktok: the plan has no destination 'tiktok'" in text
    assert "reconcile.pulls.web: 'web' is not an order source of the plan" in text
    assert "reconcile.pulls.shopify.shop: 'not-a-shop' does not match" in text
    assert "reconcile.pulls.shopify.credentials.access_token looks like an inlined secret" in text
    assert "reconcile.ga4_property must be the GA4 property's numeric id" in text


def test_missing_pull_credentials_are_an_error():
    problems = _problems("reconcile:\n  pulls:\n    stripe: {}\n")
    assert any(
        "reconcile.pulls.stripe.credentials: missing required key 'api_key'" in p for p in problems
    )
