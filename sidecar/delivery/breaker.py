"""Circuit breaker for the sGTM endpoint: stop hammering it while it is unreachable.

Closed: batches flow. After ``threshold`` consecutive batch-level failures (connection refused,
timeout, 5xx, 429) it opens for a cool-down that doubles up to ``max_open_s``; then one probe
batch of a single event is let through (half-open). Success closes it. A Retry-After from sGTM
pauses it for exactly that long without counting as a failure. While it is open nothing is
claimed, so an outage does not burn destinations' attempts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    threshold: int = 3
    base_open_s: float = 1.0
    max_open_s: float = 60.0
    failures: int = 0
    opened: int = 0  # how many times in a row it opened, for the doubling
    open_until: float = 0.0
    half_open: bool = False

    @property
    def state(self) -> str:
        if self.half_open:
            return "half_open"
        return "open" if self.open_until > 0 else "closed"

    def allow(self, now: float) -> bool:
        if self.open_until == 0.0:
            return True
        if now < self.open_until:
            return False
        self.half_open = True
        return True

    def batch_limit(self, batch_size: int) -> int:
        return 1 if self.half_open else batch_size

    def success(self) -> None:
        self.failures = 0
        self.opened = 0
        self.open_until = 0.0
        self.half_open = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.half_open or self.failures >= self.threshold:
            self.opened += 1
            cool = min(self.max_open_s, self.base_open_s * 2 ** (self.opened - 1))
            self.open_until = now + cool
            self.half_open = False
            self.failures = 0

    def pause(self, now: float, seconds: float) -> None:
        self.open_until = max(self.open_until, now + seconds)
        self.half_open = False

    def wait_s(self, now: float) -> float:
        return max(0.0, self.open_until - now) if self.open_until else 0.0
