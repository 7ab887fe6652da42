"""The consent decision on plans the example does not cover: a destination serving two
purposes, and a partially rolled-out destination that can be anonymised.

The example plan gives every destination exactly one purpose and rolls out only an ads
destination, so swapping all() for any() over a destination's purposes, loosening the
analytics-only check for anonymising, or skipping the rollout split for anonymised
destinations all went unnoticed (docs/mutation.md).
"""

from __future__ import annotations

import pytest

from formats.plan import load_plan_text
from sidecar.decision.consent import ANONYMIZED, BLOCKED, NOT_IN_ROLLOUT, QUEUED, decide
from sidecar.decision.rollout import in_rollout
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope

WAREHOUSE_ONE_PURPOSE = """    description: Every event to the warehouse, for modelling and reconciliation.
    purposes: [analytics]
"""
GA4_FULL_ROLLOUT = """    retry_window_hours: 72
    rollout: 100
"""


@pytest.fixture(scope="module")
def plan():
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    assert text.count(WAREHOUSE_ONE_PURPOSE) == 1 and text.count(GA4_FULL_ROLLOUT) == 1
    text = text.replace(
        WAREHOUSE_ONE_PURPOSE, WAREHOUSE_ONE_PURPOSE.replace("[analytics]", "[analytics, ads]")
    )
    text = text.replace(GA4_FULL_ROLLOUT, GA4_FULL_ROLLOUT.replace("100", "50"))
    loaded = load_plan_text(text, "mixed.yaml")
    assert loaded.destinations["warehouse"].purposes == ("analytics", "ads")
    assert loaded.destinations["ga4"].rollout == 50
    assert loaded.consent.analytics_without_consent == "anonymize"
    return loaded


def _client(dest: str, percent: int, inside: bool) -> str:
    for i in range(1000):
        cid = f"{i}.1732860000"
        if in_rollout(cid, dest, percent) == inside:
            return cid
    raise AssertionError("no client id found")


@pytest.mark.parametrize(
    ("analytics", "ads", "expected"),
    [
        (True, True, QUEUED),
        (True, False, BLOCKED),  # one of two purposes is not enough
        (False, True, BLOCKED),  # analytics denied, but not analytics-only: no anonymising
        (False, False, BLOCKED),
    ],
)
def test_a_destination_with_two_purposes_needs_both(plan, analytics, ads, expected):
    ev = envelope(consent={"analytics": analytics, "ads": ads, "functional": True})
    assert decide(ev, plan, "web", 1.0).outcomes["warehouse"] == expected


def test_an_anonymised_destination_still_follows_its_rollout_split(plan):
    denied = {"analytics": False, "ads": True, "functional": True}
    outside = envelope(consent=denied, client_id=_client("ga4", 50, inside=False))
    inside = envelope(consent=denied, client_id=_client("ga4", 50, inside=True))
    assert decide(outside, plan, "web", 1.0).outcomes["ga4"] == NOT_IN_ROLLOUT
    assert decide(inside, plan, "web", 1.0).outcomes["ga4"] == ANONYMIZED


def test_a_consented_destination_follows_its_rollout_split(plan):
    granted = {"analytics": True, "ads": True, "functional": True}
    outside = envelope(consent=granted, client_id=_client("ga4", 50, inside=False))
    inside = envelope(consent=granted, client_id=_client("ga4", 50, inside=True))
    assert decide(outside, plan, "web", 1.0).outcomes["ga4"] == NOT_IN_ROLLOUT
    assert decide(inside, plan, "web", 1.0).outcomes["ga4"] == QUEUED
