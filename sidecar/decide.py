"""The server-side consent re-check: which destinations may receive this event, and how.

The purposes an event claims are never trusted blindly:

1. Every purpose of the plan starts from the event's ``consent`` map. A purpose it does not
   mention is denied (fail closed); with the plan's ``missing: by_basis`` policy, a missing
   purpose whose legal basis is ``legitimate_interest`` counts as granted instead.
2. Where the request also carries the CMP's own state (``context.gcs`` / ``gcd`` Consent Mode
   strings, ``context.tcf`` TC string), each purpose those signals speak about takes the
   stricter of the two sources (``sidecar.consent_signals``): a grant needs both to grant.
3. For each destination the plan names for the event: all its purposes granted -> ``queued``;
   otherwise, for an analytics-only destination under ``analytics_without_consent:
   anonymize`` -> ``anonymized``; otherwise ``blocked_no_consent``. An allowed destination
   whose rollout does not cover this client becomes ``not_in_rollout``.
4. An allowed destination that cannot accept the event at all becomes ``skipped: <reason>``
   and is never queued: a GA4 destination for an event without ``client_id``
   (``skipped: no_client_id``; an anonymised event gets a throwaway id from the tag instead).

``Decision.audit()`` is the audit record (event id, purposes with their source, outcome per
destination, plan version, time) that goes to the log and into the outbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.plan.model import Plan
from sidecar import consent_signals
from sidecar.rollout import in_rollout

QUEUED = "queued"
BLOCKED = "blocked_no_consent"
ANONYMIZED = "anonymized"
NOT_IN_ROLLOUT = "not_in_rollout"
# Decided here, once, for an event the destination cannot accept whatever is retried: it is
# never queued for that destination (docs/destinations.md). GA4's Measurement Protocol needs
# the browser's client_id; a server-side sale without one (an unjoined order, a store sale) is
# refused there, so queueing it only produced retries and a dead letter saying "failure".
SKIPPED_NO_CLIENT_ID = "skipped: no_client_id"
SKIPPED = (SKIPPED_NO_CLIENT_ID,)
OUTCOMES = (QUEUED, BLOCKED, ANONYMIZED, NOT_IN_ROLLOUT, *SKIPPED)
ALLOWED = (QUEUED, ANONYMIZED)


@dataclass(frozen=True)
class PurposeState:
    granted: bool
    # "event" (the envelope said so), "missing" (not said: denied), "basis" (legitimate
    # interest under by_basis), or the CMP signal that overruled the event ("gcs", "gcd", "tcf").
    source: str


@dataclass(frozen=True)
class Decision:
    event_id: str
    event_name: str
    source: str
    purposes: dict[str, PurposeState]
    outcomes: dict[str, str]  # destination -> one of OUTCOMES, in plan order
    plan_version: str
    decided_at: float
    signals: tuple[str, ...] = ()  # which CMP signals were present and read
    signal_errors: tuple[str, ...] = ()  # undecodable signals (they deny every purpose)

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(d for d, o in self.outcomes.items() if o in ALLOWED)

    def audit(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_name": self.event_name,
            "source": self.source,
            "purposes": {
                p: {"granted": s.granted, "source": s.source} for p, s in self.purposes.items()
            },
            "signals": list(self.signals),
            "signal_errors": list(self.signal_errors),
            "destinations": dict(self.outcomes),
            "plan_version": self.plan_version,
            "decided_at": self.decided_at,
        }


def claimed_purposes(envelope: dict[str, Any], plan: Plan) -> dict[str, PurposeState]:
    consent = envelope.get("consent") or {}
    by_basis = plan.consent.missing == "by_basis"
    out: dict[str, PurposeState] = {}
    for name, purpose in plan.purposes.items():
        value = consent.get(name)
        if isinstance(value, bool):
            out[name] = PurposeState(value, "event")
        elif by_basis and purpose.basis == "legitimate_interest":
            out[name] = PurposeState(True, "basis")
        else:
            out[name] = PurposeState(False, "missing")
    return out


_SIGNALS = (
    ("gcs", consent_signals.purposes_from_gcs),
    ("gcd", consent_signals.purposes_from_gcd),
    ("tcf", consent_signals.purposes_from_tcf),
)


def effective_purposes(
    envelope: dict[str, Any], plan: Plan
) -> tuple[dict[str, PurposeState], tuple[str, ...], tuple[str, ...]]:
    """The event's claims, overruled by the CMP's signals wherever those are stricter.

    Returns the purposes, the signals read, and the problems of signals that could not be
    decoded (each such signal denies every purpose: fail closed; its text is never repeated).
    """
    states = claimed_purposes(envelope, plan)
    context = envelope.get("context") or {}
    present: list[str] = []
    problems: list[str] = []
    for name, decoder in _SIGNALS:
        raw = context.get(name)
        if not raw:
            continue
        present.append(name)
        decoded = decoder(raw)
        if isinstance(decoded, consent_signals.SignalError):
            problems.append(str(decoded))
            decoded = dict.fromkeys(plan.purposes, False)
        for purpose, granted in decoded.items():
            state = states.get(purpose)
            if state is None:
                continue
            combined = consent_signals.stricter({purpose: state.granted}, {purpose: granted})
            if combined[purpose] != state.granted:
                states[purpose] = PurposeState(combined[purpose], name)
    return states, tuple(present), tuple(problems)


def rollout_key(envelope: dict[str, Any]) -> str | None:
    """The id the rollout split is computed on: the browser's client_id, exactly as the
    browser tag computes it. None when the event has no client_id (an order webhook that could
    not be joined to a browser): no browser tag decided for it, so the server always sends it
    and the platforms deduplicate against the pixel by event id / transaction id. Splitting such
    events on another id would drop the share of them that neither side sends."""
    value = envelope.get("client_id")
    return value if isinstance(value, str) and value else None


def decide(envelope: dict[str, Any], plan: Plan, source: str, now: float) -> Decision:
    purposes, signals, problems = effective_purposes(envelope, plan)
    anonymize = plan.consent.analytics_without_consent == "anonymize"
    key = rollout_key(envelope)
    outcomes: dict[str, str] = {}
    for dest in plan.destinations_for(envelope["event_name"]):
        if all(purposes[p].granted for p in dest.purposes):
            outcome = QUEUED
        elif anonymize and set(dest.purposes) == {"analytics"}:
            outcome = ANONYMIZED
        else:
            outcome = BLOCKED
        if outcome in ALLOWED and key is not None and not in_rollout(key, dest.name, dest.rollout):
            outcome = NOT_IN_ROLLOUT
        if outcome == QUEUED and dest.kind == "ga4" and key is None:
            outcome = SKIPPED_NO_CLIENT_ID
        outcomes[dest.name] = outcome
    return Decision(
        event_id=envelope["event_id"],
        event_name=envelope["event_name"],
        source=source,
        purposes=purposes,
        outcomes=outcomes,
        plan_version=str(plan.version),
        decided_at=now,
        signals=signals,
        signal_errors=problems,
    )
