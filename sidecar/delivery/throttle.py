"""Per-destination rate limits: one token bucket per destination with ``max_rate_per_s``.

A destination out of tokens is left out of the batch and put back with its next try at the
time the bucket will have a token for it, so a slow (rate-limited) vendor never holds back the
other destinations of the same events. Deferrals are not attempts: they neither count towards
the attempt cap nor shorten the retry window's tries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.store.base import THROTTLED

__all__ = ["THROTTLED", "Bucket", "Throttle"]


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float  # bucket size
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float, behind: int = 0) -> float | None:
        """Take a token now (None), or say when to come back: ``behind`` sends of this
        destination were already put off in this round, so they queue one token apart."""
        if self.tokens < 0:
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if behind == 0 and self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return now + (behind + 1.0 - self.tokens) / self.rate


@dataclass
class Throttle:
    buckets: dict[str, Bucket] = field(default_factory=dict)

    @classmethod
    def from_rates(cls, rates: dict[str, int | None]) -> Throttle:
        # A burst of one second's worth: smooth enough for vendors that count per second.
        return cls({d: Bucket(float(r), float(r)) for d, r in rates.items() if r})

    def take(self, destination: str, now: float, behind: int = 0) -> float | None:
        bucket = self.buckets.get(destination)
        return None if bucket is None else bucket.take(now, behind)
