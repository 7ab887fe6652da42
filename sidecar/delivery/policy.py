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

from generator.plan.model import META_DEDUPE_HOURS, Plan
from sidecar.store.base import Attempt, Outcome


@dataclass(frozen=True)
class Limits:
    window_s: float
    max_attempts: int


DEFAULT_LIMITS = Limits(window_s=24 * 3600, max_attempts=20)


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 1.0
    max_s: float = 600.0
    # Per destination name; destinations the plan no longer has fall back to the defaults.
    limits: Mapping[str, Limits] = field(default_factory=dict)
    # Per destination: the events its browser pixel also sends. Such an event, when it came
    # from a browser session (no order channel, or "web"), is tried only until Meta's dedupe
    # window after it happened: a later copy would be counted a second time.
    pixel_events: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: Plan, base_s: float = 1.0, max_s: float = 600.0) -> RetryPolicy:
        return cls(
            base_s=base_s,
            max_s=max_s,
            limits={
                name: Limits(d.retry_window_hours * 3600.0, d.max_attempts)
                for name, d in sorted(plan.destinations.items())
            },
            pixel_events={
                name: frozenset(d.pixel_events)
                for name, d in sorted(plan.destinations.items())
                if d.pixel_events
            },
        )

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
            return _abort(
                destination,
                attempt,
                f"the next try would fall outside its {hours:g} h retry window",
            )
        if now + delay >= self.deadline(destination, window_start, envelope):
            return _abort(
                destination,
                attempt,
                f"the next try would fall outside Meta's {META_DEDUPE_HOURS} h dedupe window "
                "with the pixel's copy",
            )
        return Outcome(destination, "failed", attempt, next_attempt_at=now + delay)

    def expiry_reason(
        self, destination: str, window_start: float, envelope: Mapping[str, Any] | None = None
    ) -> str:
        window_s = self.limits_for(destination).window_s
        if self.deadline(destination, window_start, envelope) < window_start + window_s:
            return f"past Meta's {META_DEDUPE_HOURS} h dedupe window with the pixel's copy"
        return f"past its {window_s / 3600:g} h retry window"

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
