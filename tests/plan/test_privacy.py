"""The plan's privacy section: URL parameter lists and EU data residency (plan check)."""

from __future__ import annotations

import pytest

from formats.plan import PlanError, load_plan_text
from formats.plan.loader import is_eu_location
from formats.plan.model import URL_DENY_PARAMS
from tests.plan.test_loader import MINIMAL

WAREHOUSE = """\
  warehouse:
    kind: bigquery
    purposes: [analytics]
    events: [purchase]
    settings: {project: acme-data, dataset: events, table: raw%s}
"""


def plan(privacy: str = "", region: str = "europe-west4", location: str = "") -> str:
    text = MINIMAL.replace("region: europe-west4", f"region: {region}")
    text += WAREHOUSE % (f", location: {location}" if location else "")
    return text + privacy


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan_text(text, "p.yaml")
    return [f"{p.line}:{p.message}" for p in info.value.problems]


def test_url_param_lists_add_to_the_built_in_ones() -> None:
    loaded = load_plan_text(plan("privacy:\n  url_params: {deny: [owner], keep: [msclkid]}\n"))
    assert loaded.privacy.deny_params == URL_DENY_PARAMS + ("owner",)
    assert loaded.privacy.keep_params == ("msclkid",)


def test_a_bad_url_param_name_is_named_with_its_line() -> None:
    found = problems(plan("privacy:\n  url_params: {deny: [Email]}\n"))
    assert found == [
        "23:privacy.url_params.deny[0]: 'Email' is not a lower-case parameter name "
        "(letters, digits, _ and -)"
    ]


def test_without_residency_any_region_is_accepted() -> None:
    assert load_plan_text(plan(region="us-central1")).region == "us-central1"


def test_eu_residency_refuses_a_us_region_and_the_bigquery_dataset_that_follows_it() -> None:
    found = problems(plan("privacy: {residency: eu}\n", region="us-central1"))
    assert len(found) == 2
    assert found[0].startswith("4:privacy.residency is 'eu' but region is in 'us-central1'")
    assert "destinations.warehouse is in 'us-central1'" in found[1]


def test_eu_residency_refuses_a_us_dataset_and_a_london_firestore() -> None:
    text = plan("privacy: {residency: eu, firestore_location: europe-west2}\n", location="US")
    found = problems(text)
    assert any("destinations.warehouse is in 'US'" in p for p in found)
    assert any("firestore is in 'europe-west2'" in p for p in found)


def test_an_exception_with_a_reason_lets_one_location_through() -> None:
    text = plan(
        "privacy:\n  residency: eu\n  residency_exceptions:\n"
        "    - {what: destinations.warehouse, location: US, reason: 'Group BI, DPF and SCCs'}\n",
        location="US",
    )
    loaded = load_plan_text(text)
    assert loaded.privacy.residency_exceptions[0].reason == "Group BI, DPF and SCCs"


def test_an_exception_needs_a_reason() -> None:
    text = plan(
        "privacy:\n  residency: eu\n  residency_exceptions:\n"
        "    - {what: destinations.warehouse, location: US}\n",
        location="US",
    )
    found = problems(text)
    assert any("missing required key 'reason'" in p for p in found)
    assert any("destinations.warehouse is in 'US'" in p for p in found)


@pytest.mark.parametrize(
    ("location", "eu"),
    [
        ("europe-west1", True),
        ("europe-west3", True),
        ("europe-north1", True),
        ("EU", True),
        ("europe-west2", False),
        ("europe-west6", False),
        ("US", False),
        ("us-central1", False),
        ("asia-east1", False),
    ],
)
def test_eu_locations(location: str, eu: bool) -> None:
    assert is_eu_location(location) is eu


def test_contexts_retention_comes_from_the_plan() -> None:
    from sidecar.webhooks.identity import context_ttl

    assert context_ttl(load_plan_text(plan())) == 30 * 86400  # MINIMAL keeps 30 days
    short = load_plan_text(plan("privacy:\n  contexts_retention_days: 7\n"))
    assert context_ttl(short) == 7 * 86400
    found = problems(plan("privacy:\n  contexts_retention_days: 90\n"))
    assert found == ["23:privacy.contexts_retention_days = 90 is outside 1..30"]


REGIONS = """\
  default_region: eu
  regions:
    eu:
      countries: [DE, FR]
      defaults: {analytics: denied, ads: denied}
      may_grant: [event, tcf]
    us:
      countries: [US]
      subdivisions: [US-CA]
      defaults: {analytics: granted, ads: granted}
      gpc: deny_ads
      meta_ldu: true
"""


def with_regions(regions: str) -> str:
    return plan().replace("events:\n", "consent:\n" + regions + "events:\n", 1)


def test_regions_load_with_their_rules() -> None:
    loaded = load_plan_text(with_regions(REGIONS))
    policy = loaded.consent
    assert policy.default_region == "eu"
    us = policy.regions["us"]
    assert (us.countries, us.subdivisions, us.may_grant) == (("US",), ("US-CA",), ("event",))
    assert us.defaults == {"analytics": True, "ads": True}
    assert us.gpc_denies_ads and us.meta_ldu
    assert policy.rule_for("US", "USCA") is us and policy.rule_for("JP", None).name == "eu"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("countries: [US]", "countries: [US, DE]"), "DE is already in region eu"),
        (("default_region: eu", "default_region: xx"), "consent.default_region: xx must name"),
        (("may_grant: [event, tcf]", "may_grant: [event, cmp]"), "unknown source 'cmp'"),
        (("subdivisions: [US-CA]", "subdivisions: [California]"), "is not an ISO 3166 code"),
        (("ads: granted}", "ads: maybe}"), "'maybe' is not one of granted, denied"),
        (("gpc: deny_ads", "gpc: honour"), "'honour' is not one of deny_ads, ignore"),
    ],
)
def test_region_mistakes_are_named(edit: tuple[str, str], message: str) -> None:
    found = problems(with_regions(REGIONS.replace(*edit)))
    assert any(message in p for p in found), found
