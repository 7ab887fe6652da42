"""Retry policy: exponential backoff with jitter, Retry-After, and each destination's limits.

After rudder-server's router (style-anchors.md), with one deliberate difference: an event is
dead-lettered when EITHER its retry window or its attempt cap is exhausted, not only when both
are. The window is the platform's own limit (Meta rejects events older than 7 days, GA4 clamps
at 72 hours), so trying past it only produces rejections.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from formats.plan.model import META_DEDUPE_HOURS, Plan
from sidecar.store.base import Attempt, Outcome


@dataclass(frozen=True)
class Limits:
    window_s: float
    max_attempts: int
    # What the window counts from and why, in words: recorded as "expired: <rule>".
    rule: str = ""


DEFAULT_LIMITS = Limits(window_s=24 * 3600, max_attempts=20)
CAP_S = 3600.0  # backoff cap: about an hour, so a long outage is retried hourly to the end
# Kinds whose platform checks the event's own time (the window counts from the business
# time: paid time of a purchase, refund time of a refund); the others accept anything, and
# the window counts from receipt.
EVENT_TIME_KINDS = frozenset({"ga4", "meta_capi", "google_ads"})
_RULE_WORDS = {
    "ga4": "GA4 takes events whose timestamp is at most {h} h old",
    "meta_capi": "Meta takes events whose event_time is at most {h} h old",
    "google_ads": "Google Ads takes conversions at most {h} h after the conversion time",
}


def counts_from(kind: str) -> str:
    return "business_time" if kind in EVENT_TIME_KINDS else "received_at"


def rule_for(kind: str, hours: float) -> str:
    text = _RULE_WORDS.get(kind, "retried for {h} h after the sidecar received the event")
    return text.format(h=f"{hours:g}") + " (retry_window_hours)"


def attempts_for_window(window_s: float, base_s: float = 1.0, max_s: float = CAP_S) -> int:
    """Tries needed to keep retrying for the whole window when every backoff is as short as
    equal jitter allows (half the nominal delay): the first try, then one per delay."""
    total, n = 0.0, 0
    while total < window_s:
        n += 1
        total += min(max_s, base_s * 2 ** (n - 1)) / 2
    return n + 1


def schedule(plan: Plan, base_s: float = 1.0, max_s: float = CAP_S) -> dict[str, dict]:
    """Per destination: window, what it counts from, the rule, attempts and first delays
    (docs/delivery.md; ``sgtm plan check --format json`` shows it)."""
    policy = RetryPolicy.from_plan(plan, base_s, max_s)
    out = {}
    for name, d in sorted(plan.destinations.items()):
        limits = policy.limits_for(name)
        out[name] = {
            "kind": d.kind,
            "window_hours": d.retry_window_hours,
            "counts_from": counts_from(d.kind),
            "rule": limits.rule,
            "max_attempts": limits.max_attempts,
            "backoff": f"{base_s:g} s doubling to {max_s:g} s, equal jitter (half fixed)",
            "nominal_delays_s": [min(max_s, base_s * 2**k) for k in range(14)],
        }
    return out


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 1.0
    max_s: float = CAP_S
    # Per destination name; destinations the plan no longer has fall back to the defaults.
    limits: Mapping[str, Limits] = field(default_factory=dict)
    # Per destination: the events its browser pixel also sends. Such an event, when it came
    # from a browser session (no order channel, or "web"), is tried only until Meta's dedupe
    # window after it happened: a later copy would be counted a second time.
    pixel_events: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: Plan, base_s: float = 1.0, max_s: float = CAP_S) -> RetryPolicy:
        """Limits derived from each destination's window: the plan's ``max_attempts`` is a
        floor, raised to as many tries as the window needs (20 tries with a 600 s cap used to
        end a 72 h window after ~1.5 h)."""
        limits = {}
        for name, d in sorted(plan.destinations.items()):
            window = d.retry_window_hours * 3600.0
            attempts = max(d.max_attempts, attempts_for_window(window, base_s, max_s))
            limits[name] = Limits(window, attempts, rule_for(d.kind, d.retry_window_hours))
        pixel_events = {
            name: frozenset(d.pixel_events)
            for name, d in sorted(plan.destinations.items())
            if d.pixel_events
        }
        return cls(base_s=base_s, max_s=max_s, limits=limits, pixel_events=pixel_events)

    def deadline(
        self, destination: str, window_start: float, envelope: Mapping[str, Any] | None = None
    ) -> float:
        """When trying ``destination`` stops: its retry window, or for an event the pixel also
        sent, Meta's dedupe window after the event's own time, whichever comes first."""
        end = window_start + self.limits_for(destination).window_s
        if envelope is not None and envelope.get("event_name") in self.pixel_events.get(
            destination, ()
        ):
            channel = (envelope.get("context") or {}).get("channel", "web")
            timestamp = envelope.get("timestamp")
            if channel == "web" and isinstance(timestamp, int | float):
                end = min(end, timestamp / 1000 + META_DEDUPE_HOURS * 3600)
        return end

    def limits_for(self, destination: str) -> Limits:
        return self.limits.get(destination, DEFAULT_LIMITS)

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Delay before try ``attempts + 1``: min(max, base * 2^(attempts-1)), "equal jitter".

        Half the delay is fixed so retries never bunch at zero; the other half is random so a
        backlog of events that failed together does not retry together.
        """
        delay = min(self.max_s, self.base_s * (2 ** max(0, attempts - 1)))
        return delay / 2 + rng.uniform(0, delay / 2)

    def after_failure(
        self,
        destination: str,
        attempt: Attempt,
        attempts_before: int,
        window_start: float,
        now: float,
        rng: random.Random,
        retry_after: float | None = None,
        envelope: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """A failed attempt becomes "failed" (retry at a time) or "aborted" (dead letter)."""
        limits = self.limits_for(destination)
        made = attempts_before + 1
        if made >= limits.max_attempts:
            return _abort(destination, attempt, f"gave up after {made} attempts (max_attempts)")
        delay = self.backoff(made, rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        deadline = window_start + limits.window_s
        if now + delay >= deadline:
            hours = limits.window_s / 3600
            why = f"the next try would fall outside its {hours:g} h retry window"
            return _abort(destination, attempt, f"{why} (expired: {self.rule(destination)})")
        if now + delay >= self.deadline(destination, window_start, envelope):
            return _abort(
                destination,
                attempt,
                f"the next try would fall outside Meta's {META_DEDUPE_HOURS} h dedupe window "
                "with the pixel's copy",
            )
        return Outcome(destination, "failed", attempt, next_attempt_at=now + delay)

    def rule(self, destination: str) -> str:
        limits = self.limits_for(destination)
        return limits.rule or f"retry window of {limits.window_s / 3600:g} h"

    def expiry_reason(
        self, destination: str, window_start: float, envelope: Mapping[str, Any] | None = None
    ) -> str:
        """Why an event is past trying, in the words recorded as ``expired: <rule>``."""
        window_s = self.limits_for(destination).window_s
        if self.deadline(destination, window_start, envelope) < window_start + window_s:
            return f"past Meta's {META_DEDUPE_HOURS} h dedupe window with the pixel's copy"
        return self.rule(destination)

    def expired(
        self,
        destination: str,
        window_start: float,
        now: float,
        envelope: Mapping[str, Any] | None = None,
    ) -> bool:
        return now >= self.deadline(destination, window_start, envelope)


def _abort(destination: str, attempt: Attempt, why: str) -> Outcome:
    reason = f"{attempt.reason}; {why}" if attempt.reason else why
    return Outcome(
        destination,
        "aborted",
        Attempt(attempt.at, attempt.outcome, reason, attempt.http_status),
    )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), 24 * 3600))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min(when.timestamp() - now, 24 * 3600.0))
