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

from formats.plan.model import Plan
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

    @classmethod
    def from_plan(cls, plan: Plan, base_s: float = 1.0, max_s: float = 600.0) -> RetryPolicy:
        return cls(
            base_s=base_s,
            max_s=max_s,
            limits={
                name: Limits(d.retry_window_hours * 3600.0, d.max_attempts)
                for name, d in sorted(plan.destinations.items())
            },
        )

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
        return Outcome(destination, "failed", attempt, next_attempt_at=now + delay)

    def expired(self, destination: str, window_start: float, now: float) -> bool:
        return now >= window_start + self.limits_for(destination).window_s


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
