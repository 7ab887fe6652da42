from __future__ import annotations

import pytest

from sidecar.store.base import OutboxRecord


def make_record(
    event_id: str,
    destinations: tuple[str, ...] = ("ga4", "meta"),
    dedupe_keys: tuple[str, ...] = (),
    order_id: str | None = None,
    accepted_at: float = 1_000_000.0,
    timestamp_ms: int | None = None,
) -> OutboxRecord:
    envelope = {
        "event_name": "purchase",
        "event_id": event_id,
        "timestamp": timestamp_ms if timestamp_ms is not None else int(accepted_at * 1000),
        "client_id": "1.2",
        "consent": {"analytics": True, "ads": True},
        "params": {"value": 10.0, "currency": "EUR"},
        "context": {},
        "destinations": {
            d: {"user_data": {}, "ip": None, "user_agent": None} for d in destinations
        },
    }
    return OutboxRecord(
        event_id=event_id,
        event_name="purchase",
        source="web",
        envelope=envelope,
        destinations=destinations,
        decision={"ga4": "allowed", "meta": "allowed"},
        plan_version="1.0.0",
        accepted_at=accepted_at,
        order_id=order_id,
        dedupe_keys=dedupe_keys or (event_id,),
    )


@pytest.fixture
def record_factory():
    return make_record


class FakeClock:
    """A clock the test moves by hand, so windows and backoff run in no time."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
