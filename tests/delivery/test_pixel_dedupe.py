"""Events the Meta pixel also sends are not retried past Meta's 48 h dedupe window."""

from __future__ import annotations

import random
from dataclasses import replace

from formats.plan import load_plan
from sidecar.delivery.policy import Limits, RetryPolicy
from sidecar.store.base import Attempt
from tests.store.conftest import make_record

HOUR = 3600.0
T0 = 1_800_000_000.0


def _policy() -> RetryPolicy:
    return RetryPolicy(
        base_s=1.0,
        max_s=600.0,
        limits={"meta": Limits(168 * HOUR, 1000), "ga4": Limits(72 * HOUR, 1000)},
        pixel_events={"meta": frozenset({"purchase"})},
    )


def _envelope(channel: str | None = None, event_name: str = "purchase") -> dict:
    context = {"channel": channel} if channel else {}
    return {"event_name": event_name, "timestamp": int(T0 * 1000), "context": context}


def test_the_example_plan_says_which_events_its_pixel_sends():
    policy = RetryPolicy.from_plan(load_plan("examples/shop/plan.yaml"))
    assert policy.pixel_events == {
        "meta": frozenset({"view_item", "add_to_cart", "begin_checkout", "purchase"})
    }


def test_a_web_event_the_pixel_sent_stops_at_48_hours_after_it_happened():
    policy = _policy()
    for channel in (None, "web"):
        envelope = _envelope(channel)
        # Accepted an hour after the purchase: the 168 h window would run to T0 + 169 h.
        assert policy.deadline("meta", T0 + HOUR, envelope) == T0 + 48 * HOUR
        assert not policy.expired("meta", T0 + HOUR, T0 + 47 * HOUR, envelope)
        assert policy.expired("meta", T0 + HOUR, T0 + 48 * HOUR, envelope)
        assert policy.expiry_reason("meta", T0 + HOUR, envelope) == (
            "past Meta's 48 h dedupe window with the pixel's copy"
        )


def test_other_events_channels_and_destinations_keep_their_own_window():
    policy = _policy()
    assert policy.deadline("meta", T0, _envelope("pos")) == T0 + 168 * HOUR
    assert policy.deadline("meta", T0, _envelope("web", "refund")) == T0 + 168 * HOUR
    assert policy.deadline("ga4", T0, _envelope("web")) == T0 + 72 * HOUR
    assert policy.deadline("meta", T0) == T0 + 168 * HOUR  # no envelope: the plain window
    assert policy.expiry_reason("meta", T0, _envelope("pos")) == "retry window of 168 h"


def test_a_failure_near_the_dedupe_window_is_dead_lettered_with_the_reason():
    policy = _policy()
    attempt = Attempt(T0 + 48 * HOUR - 2, "failure", "http 503", 503)
    outcome = policy.after_failure(
        "meta", attempt, 3, T0, T0 + 48 * HOUR - 2, random.Random(1), None, _envelope("web")
    )
    assert outcome.state == "aborted"
    assert "outside Meta's 48 h dedupe window" in outcome.attempt.reason
    # The same failure for a store sale is simply retried.
    outcome = policy.after_failure(
        "meta", attempt, 3, T0, T0 + 48 * HOUR - 2, random.Random(1), None, _envelope("pos")
    )
    assert outcome.state == "failed"


def test_the_worker_does_not_send_a_pixel_event_past_the_dedupe_window(
    outbox, sgtm, make_worker, fake_clock, policy
):
    now = fake_clock()
    # Happened 50 h ago, accepted late (a delayed webhook): inside 168 h, outside 48 h.
    record = make_record("late", accepted_at=now - HOUR, timestamp_ms=int((now - 50 * HOUR) * 1000))
    outbox.enqueue([record], 48 * 3600)
    worker = make_worker()
    worker.policy = replace(policy, pixel_events={"meta": frozenset({"purchase"})})
    worker.run(until_idle=True)
    assert ("meta", "late") not in sgtm.seen and sgtm.delivered[("ga4", "late")] == 1
    (dl,) = outbox.dead_letters()
    assert dl.destination == "meta" and dl.attempts[0].outcome == "expired"
    assert "past Meta's 48 h dedupe window with the pixel's copy" in dl.reason
