"""The rollout split in the consent decision: by client_id, and never dropping unjoined events."""

from __future__ import annotations

from formats.plan import load_plan
from sidecar.decision.consent import NOT_IN_ROLLOUT, QUEUED, decide
from sidecar.decision.rollout import in_rollout

EVENT = {
    "schema": 1,
    "event_name": "purchase",
    "event_id": "shopify-1001-purchase",
    "timestamp": 1_732_870_000_000,
    "consent": {"ads": True, "analytics": True, "functional": True},
    "params": {"transaction_id": "1001", "currency": "EUR", "value": 10, "items": [{"id": "A"}]},
}


def test_events_without_client_id_are_always_sent(example_plan_path):
    plan = load_plan(example_plan_path)
    assert plan.destinations["meta"].rollout == 50
    for n in range(200):
        event = dict(EVENT, event_id=f"shopify-{n}-purchase", user_id=f"cust-{n}")
        assert decide(event, plan, "shopify", 1_732_870_000.0).outcomes["meta"] == QUEUED


def test_events_with_client_id_follow_the_browser_split(example_plan_path):
    plan = load_plan(example_plan_path)
    seen = set()
    for n in range(200):
        client_id = f"{n}.1732860000"
        outcome = decide(dict(EVENT, client_id=client_id), plan, "web", 1_732_870_000.0).outcomes[
            "meta"
        ]
        expected = QUEUED if in_rollout(client_id, "meta", 50) else NOT_IN_ROLLOUT
        assert outcome == expected
        seen.add(outcome)
    assert seen == {QUEUED, NOT_IN_ROLLOUT}
