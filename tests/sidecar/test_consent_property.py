"""Property: nothing is ever queued for a destination whose purposes are not all granted.

Over every combination of the plan's purposes (granted / denied / not said), CMP signals that
may overrule them, events and client ids, the check reads what was actually written to the
SQLite outbox, not what the pipeline answered.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.plan import load_plan_text
from sidecar.decision.rollout import in_rollout
from sidecar.ingest import Pipeline
from sidecar.store.sqlite import SqliteStore
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import outbox_rows

PARAMS = {
    "view_item": {"currency": "EUR", "items": [{"id": "SKU-1"}]},
    "add_to_cart": {"currency": "EUR", "value": 1.5, "items": [{"id": "SKU-1"}]},
    "begin_checkout": {"currency": "EUR", "value": 1.5, "items": [{"id": "SKU-1"}]},
    "purchase": {"transaction_id": "1", "currency": "EUR", "value": 1.5, "items": [{"id": "a"}]},
    "refund": {"transaction_id": "1", "currency": "EUR", "value": 1.5},
    "newsletter_signup": {"method": "footer"},
}
RAW_EMAIL = "Property.Canary@Example.com"
RAW_PHONE = "+34 699 111 222"
GCS = [None, "G100", "G101", "G110", "G111"]
VARIANTS = {
    "anonymize-strict": ("anonymize", "strict"),
    "drop-by_basis": ("drop", "by_basis"),
}

_counter = itertools.count()


def _plan_text(analytics: str, missing: str) -> str:
    text = EXAMPLE_PLAN.read_text()
    text = text.replace(
        "analytics_without_consent: anonymize", f"analytics_without_consent: {analytics}"
    )
    return text.replace("missing: strict", f"missing: {missing}")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pipeline(request, tmp_path_factory):
    analytics, missing = VARIANTS[request.param]
    plan = load_plan_text(_plan_text(analytics, missing), "plan.yaml")
    store = SqliteStore(Path(tmp_path_factory.mktemp("prop")) / "o.sqlite", synchronous="NORMAL")
    yield Pipeline(plan, store)
    store.close()


def granted_oracle(plan, consent: dict, gcs: str | None) -> dict[str, bool]:
    """Written from the rules in docs/sidecar.md, independently of sidecar.decision.consent."""
    out = {}
    for name, purpose in plan.purposes.items():
        if name in consent:
            ok = consent[name] is True
        else:
            ok = plan.consent.missing == "by_basis" and purpose.basis == "legitimate_interest"
        if gcs is not None and name == "ads":
            ok = ok and gcs[2] == "1"
        if gcs is not None and name == "analytics":
            ok = ok and gcs[3] == "1"
        out[name] = ok
    return out


consent_values = st.sampled_from([True, False, None])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    event_name=st.sampled_from(sorted(PARAMS)),
    claims=st.fixed_dictionaries(
        {"analytics": consent_values, "ads": consent_values, "functional": consent_values}
    ),
    gcs=st.sampled_from(GCS),
    client_id=st.from_regex(r"[0-9]{6,10}\.[0-9]{10}", fullmatch=True),
    with_pii=st.booleans(),
)
def test_queued_destinations_always_have_all_purposes_granted(
    pipeline, event_name, claims, gcs, client_id, with_pii
):
    consent = {k: v for k, v in claims.items() if v is not None}
    event_id = f"p-{next(_counter)}"
    envelope = make_envelope(event_id, event_name, consent, gcs, client_id, with_pii)
    (result,) = pipeline.ingest([envelope], "web")
    assert result.status == "accepted"
    check_stored(pipeline, event_id, event_name, consent, gcs, client_id)


def make_envelope(event_id, event_name, consent, gcs, client_id, with_pii):
    envelope = {
        "schema": 1,
        "event_name": event_name,
        "event_id": event_id,
        "timestamp": 1732870000000,
        "client_id": client_id,
        "user_id": "cust-prop-1",
        "consent": consent,
        "params": PARAMS[event_name],
        "context": {"ip": "203.0.113.77", "user_agent": "UA-canary", "fbp": "fb.1.1.1"},
    }
    if with_pii:
        envelope["user_data"] = {"email": RAW_EMAIL, "phone": RAW_PHONE}
    if gcs is not None:
        envelope["context"]["gcs"] = gcs
    return envelope


def check_stored(pipeline, event_id, event_name, consent, gcs, client_id, rows=None):
    plan = pipeline.plan
    rows = [r for r in (rows or outbox_rows(pipeline.store)) if r["event_id"] == event_id]
    assert len(rows) == 1
    row = rows[0]
    granted = granted_oracle(plan, consent, gcs)
    anonymize = plan.consent.analytics_without_consent == "anonymize"
    stored = row["envelope"].get("destinations", {})
    assert set(stored) == set(row["deliveries"])
    fully_allowed = set()
    for dest in plan.destinations_for(event_name):
        consented = all(granted[p] for p in dest.purposes)
        in_split = in_rollout(client_id, dest.name, dest.rollout)
        if dest.name in row["deliveries"]:
            entry = stored[dest.name]
            if consented:
                assert in_split
                assert not entry.get("anonymized")
                fully_allowed.add(dest.name)
            else:
                # The only way without consent: analytics-only, anonymised, nothing personal.
                assert anonymize and set(dest.purposes) == {"analytics"}
                assert entry == {
                    "anonymized": True,
                    "ip": None,
                    "user_agent": None,
                    "user_data": {},
                }
        else:
            # Completeness: a consented destination in its rollout is never silently dropped.
            assert not (consented and in_split)
        assert row["decision"]["destinations"][dest.name] in (
            "queued",
            "blocked_no_consent",
            "anonymized",
            "not_in_rollout",
        )
    dumped = json.dumps(row)
    assert RAW_EMAIL not in dumped and RAW_PHONE not in dumped
    if not fully_allowed and row["deliveries"]:
        for identifier in ("client_id", "session_id", "user_id"):
            assert identifier not in row["envelope"]
        assert "fbp" not in row["envelope"]["context"]
        assert "203.0.113" not in dumped
    if not row["deliveries"]:
        assert row["skipped"] is True


def test_every_combination_of_purposes_signals_and_events(pipeline):
    """The same check, exhaustively: 3^3 claims x 5 CMP states x 6 events x 2 clients."""
    # One client inside meta's 50% rollout and one outside it.
    candidates = [f"{i}.1732860000" for i in range(100)]
    clients = (
        next(c for c in candidates if in_rollout(c, "meta", 50)),
        next(c for c in candidates if not in_rollout(c, "meta", 50)),
    )
    cases = []
    for event_name in sorted(PARAMS):
        batch = []
        for values in itertools.product([True, False, None], repeat=3):
            consent = {
                p: v for p, v in zip(("analytics", "ads", "functional"), values, strict=True)
            }
            consent = {k: v for k, v in consent.items() if v is not None}
            for gcs in GCS:
                for client_id in clients:
                    event_id = f"x-{next(_counter)}"
                    batch.append(make_envelope(event_id, event_name, consent, gcs, client_id, True))
                    cases.append((event_id, event_name, consent, gcs, client_id))
        for start in range(0, len(batch), 100):
            results = pipeline.ingest(batch[start : start + 100], "web")
            assert {r.status for r in results} == {"accepted"}
    rows = outbox_rows(pipeline.store)
    assert len(cases) == 6 * 27 * 5 * 2
    for event_id, event_name, consent, gcs, client_id in cases:
        check_stored(pipeline, event_id, event_name, consent, gcs, client_id, rows)
