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


def test_retry_windows_count_from_what_each_destination_checks(pipeline, store):
    """GA4, Meta and Google Ads check the event's own (business) time; the warehouse and the
    CRM accept anything, so their windows count from receipt."""
    paid = 1_800_000_000.0 - 4 * 86400  # paid four days before it reached the sidecar
    pipeline.ingest([envelope("w-1", timestamp=int(paid * 1000))], "shopify")
    starts = dict(
        store._read()
        .execute("SELECT destination, window_start FROM deliveries WHERE event_id = 'w-1'")
        .fetchall()
    )
    assert starts["ga4"] == paid and starts["meta"] == paid
    assert starts["warehouse"] == 1_800_000_000.0


def test_a_future_timestamp_is_set_to_the_receipt_time(pipeline, store):
    ahead = int((1_800_000_000.0 + 2 * 86400) * 1000)  # +2 days: a shop clock or zone bug
    pipeline.ingest([envelope("f-1", timestamp=ahead), envelope("f-2")], "web")
    rows = {r["event_id"]: r for r in outbox_rows(store)}
    assert rows["f-1"]["envelope"]["timestamp"] == 1_800_000_000_000
    assert rows["f-1"]["decision"]["timestamp"] == (
        "172800 s in the future: set to the receipt time"
    )
    assert rows["f-2"]["envelope"]["timestamp"] == 1732870000000  # past times are kept
    assert "timestamp" not in rows["f-2"]["decision"]
