"""The pipeline as the webhook endpoints call it: no Flask, envelopes they mapped themselves."""

from __future__ import annotations

import pytest

from formats.plan import load_plan
from sidecar.ingest import Pipeline
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope, outbox_rows


@pytest.fixture
def pipeline(store):
    return Pipeline(load_plan(EXAMPLE_PLAN), store, clock=lambda: 1_800_000_000.0)


def test_extra_dedupe_keys_catch_a_redelivery_under_another_event_id(pipeline, store):
    first = pipeline.ingest(
        [envelope("shopify-1001-purchase")],
        "shopify",
        dedupe_keys=[("shopify:webhook:abc",)],
        order_ids=["1001"],
    )
    again = pipeline.ingest(
        [envelope("shopify-1001-purchase-retry")],
        "shopify",
        dedupe_keys=[("shopify:webhook:abc",)],
        order_ids=["1001"],
    )
    assert [r.status for r in first + again] == ["accepted", "duplicate"]
    (row,) = outbox_rows(store)
    assert row["decision"]["source"] == "shopify"
    (entry,) = store.ledger_for_order("1001")
    assert entry.event_id == "shopify-1001-purchase" and entry.source == "shopify"


def test_counters_and_results_line_up(pipeline):
    results = pipeline.ingest([envelope("c-1"), {"schema": 1}, envelope("c-1")], "web")
    assert [r.status for r in results] == ["accepted", "rejected", "duplicate"]
    assert [r.index for r in results] == [0, 1, 2]
    counts = pipeline.counters.snapshot()
    assert (counts["accepted"], counts["rejected"], counts["duplicates"]) == (1, 1, 1)


def test_unknown_source_is_a_programming_error(pipeline):
    with pytest.raises(ValueError, match="unknown source 'shopfy'; the plan declares web, shopify"):
        pipeline.ingest([envelope("x-1")], "shopfy")


def test_decision_time_comes_from_the_clock(pipeline, store):
    pipeline.ingest([envelope("t-1")], "web")
    (row,) = outbox_rows(store)
    assert row["decision"]["decided_at"] == 1_800_000_000.0
