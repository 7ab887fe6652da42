"""Retry policy and circuit breaker, table-tested (rudder-server's habit)."""

from __future__ import annotations

import json
import random

import pytest

from formats.plan import load_plan
from sidecar.delivery.breaker import CircuitBreaker
from sidecar.delivery.policy import DEFAULT_LIMITS, Limits, RetryPolicy, parse_retry_after
from sidecar.store.base import Attempt


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (1, 0.5, 1.0),
        (2, 1.0, 2.0),
        (3, 2.0, 4.0),
        (6, 16.0, 32.0),
        (10, 30.0, 60.0),
        (50, 30.0, 60.0),
    ],
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(attempts, low, high):
    policy = RetryPolicy(base_s=1.0, max_s=60.0)
    rng = random.Random(1)
    delays = [policy.backoff(attempts, rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert len(set(delays)) > 100  # jittered, not fixed


def test_limits_come_from_the_plan():
    plan = load_plan("examples/shop/plan.yaml")
    policy = RetryPolicy.from_plan(plan)
    assert policy.limits_for("meta").window_s == 168 * 3600
    assert policy.limits_for("ga4").window_s == 72 * 3600
    assert policy.limits_for("google_ads").window_s == 24 * 3600
    assert policy.limits_for("gone-from-plan") == DEFAULT_LIMITS
    assert policy.rule("meta") == (
        "Meta takes events whose event_time is at most 168 h old (retry_window_hours)"
    )
    assert policy.rule("warehouse").startswith("retried for ")


@pytest.mark.parametrize("destination", ["ga4", "meta", "google_ads", "warehouse", "crm"])
def test_retries_last_the_whole_window(destination):
    """With the old defaults (20 tries, 600 s cap) a failing destination was dead-lettered
    after 1.1-1.5 h of a 24-168 h window. Now the tries, even with every jittered delay as
    short as it can be, reach the end of the window, and the backoff is capped at an hour."""
    plan = load_plan("examples/shop/plan.yaml")
    policy = RetryPolicy.from_plan(plan)
    limits = policy.limits_for(destination)
    assert limits.max_attempts >= plan.destinations[destination].max_attempts
    rng = random.Random(3)
    now, start, made = 0.0, 0.0, 0
    while True:
        made += 1
        out = policy.after_failure(
            destination, Attempt(now, "failure", "HTTP 500", 500), made - 1, start, now, rng
        )
        if out.state == "aborted":
            break
        assert out.next_attempt_at - now <= 3600
        now = out.next_attempt_at
    assert "retry window" in out.attempt.reason and "gave up" not in out.attempt.reason
    assert now >= limits.window_s - 3600  # retried until the last hour of the window


@pytest.mark.parametrize(
    ("before", "window_used_s", "retry_after", "state", "why"),
    [
        (0, 0, None, "failed", ""),
        (3, 0, None, "aborted", "gave up after 4 attempts"),
        (0, 3600 - 0.2, None, "aborted", "outside its 1 h retry window"),
        (0, 0, 7200, "aborted", "outside its 1 h retry window"),
        (0, 0, 120, "failed", ""),
    ],
)
def test_after_failure(before, window_used_s, retry_after, state, why):
    policy = RetryPolicy(base_s=1.0, max_s=60.0, limits={"x": Limits(3600, 4)})
    now = 10_000.0
    attempt = Attempt(now, "failure", "HTTP 500", 500)
    out = policy.after_failure(
        "x", attempt, before, now - window_used_s, now, random.Random(0), retry_after
    )
    assert out.state == state
    assert why in out.attempt.reason and out.attempt.reason.startswith("HTTP 500")
    if state == "failed":
        assert out.next_attempt_at >= now + (retry_after or 0.5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("Sun, 29 Nov 2026 10:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("999999", 86400.0),
    ],
)
def test_parse_retry_after(value, expected):
    from datetime import UTC, datetime

    now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now) == expected


def test_breaker_opens_doubles_probes_and_closes():
    b = CircuitBreaker(threshold=3, base_open_s=1.0, max_open_s=4.0)
    for _ in range(2):
        b.failure(0.0)
    assert b.state == "closed" and b.allow(0.0)
    b.failure(0.0)
    assert b.state == "open" and not b.allow(0.5)
    assert b.allow(1.0) and b.state == "half_open" and b.batch_limit(20) == 1
    b.failure(1.0)  # the probe failed: open again, twice as long
    assert not b.allow(2.9) and b.allow(3.0)
    b.failure(3.0)
    b.allow(7.0)
    b.failure(7.0)
    assert b.wait_s(7.0) == 4.0  # capped
    b.allow(11.0)
    b.success()
    assert b.state == "closed" and b.batch_limit(20) == 20


def test_breaker_pause_is_not_a_failure():
    b = CircuitBreaker()
    b.pause(100.0, 30.0)
    assert not b.allow(129.0) and b.allow(130.0)
    b.success()
    assert b.failures == 0 and b.opened == 0


def test_plan_check_json_shows_the_retry_schedule(capsys):
    from sgtm.cli import main

    assert main(["plan", "check", "examples/shop/plan.yaml", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    meta, warehouse = doc["retry_schedule"]["meta"], doc["retry_schedule"]["warehouse"]
    assert meta["window_hours"] == 168 and meta["counts_from"] == "business_time"
    assert warehouse["counts_from"] == "received_at"
    assert (
        meta["max_attempts"]
        == RetryPolicy.from_plan(load_plan("examples/shop/plan.yaml"))
        .limits_for("meta")
        .max_attempts
    )
    assert max(meta["nominal_delays_s"]) == 3600
