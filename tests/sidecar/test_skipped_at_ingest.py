"""A destination that cannot accept an event is decided at ingest and never queued for it."""

from __future__ import annotations

import pytest

from formats.plan import load_plan
from sidecar.decision.consent import SKIPPED_NO_CLIENT_ID, decide
from sidecar.ingest import Pipeline
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope, outbox_rows


@pytest.fixture
def plan():
    return load_plan(EXAMPLE_PLAN)


@pytest.fixture
def pipeline(plan, store):
    return Pipeline(plan, store, clock=lambda: 1_800_000_000.0)


def _unjoined_order(event_id: str = "shopify-1001-purchase") -> dict:
    env = envelope(event_id)
    del env["client_id"], env["session_id"]
    return env


def test_ga4_without_client_id_is_skipped_with_its_reason(plan):
    decision = decide(_unjoined_order(), plan, "shopify", 0.0)
    assert decision.outcomes["ga4"] == SKIPPED_NO_CLIENT_ID == "skipped: no_client_id"
    # Destinations that need no browser id still get it.
    assert decision.outcomes["meta"] == "queued"
    assert decision.outcomes["warehouse"] == "queued"
    assert "ga4" not in decision.allowed


def test_consent_is_still_reported_first(plan):
    env = _unjoined_order()
    env["consent"] = {"analytics": False, "ads": True, "functional": True}
    # analytics_without_consent: anonymize -> the tag sends a throwaway client_id: not skipped.
    assert decide(env, plan, "shopify", 0.0).outcomes["ga4"] == "anonymized"


def test_a_joined_order_with_a_client_id_is_queued_for_ga4(plan):
    assert decide(envelope("e-1"), plan, "shopify", 0.0).outcomes["ga4"] == "queued"


def test_the_ledger_says_why_and_nothing_is_queued_for_ga4(pipeline, store):
    (result,) = pipeline.ingest([_unjoined_order()], "shopify", order_ids=["1001"])
    assert result.status == "accepted"
    assert result.destinations["ga4"] == "skipped: no_client_id"
    (row,) = outbox_rows(store)
    assert "ga4" not in row["deliveries"] and "meta" in row["deliveries"]
    assert "ga4" not in row["envelope"]["destinations"]
    entry = store.ledger("shopify-1001-purchase")
    assert "ga4" not in entry.destinations
    assert entry.decided["ga4"] == "skipped: no_client_id"
    assert entry.status == "queued"  # the others are on their way
