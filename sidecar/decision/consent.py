"""The server-side consent re-check: which destinations may receive this event, and how.

The purposes an event claims are never trusted blindly:

1. Every purpose of the plan starts from the event's ``consent`` map. A purpose it does not
   mention is denied (fail closed); with the plan's ``missing: by_basis`` policy, a missing
   purpose whose legal basis is ``legitimate_interest`` counts as granted instead.
2. Where the request also carries the CMP's own state (``context.gcs`` / ``gcd`` Consent Mode
   strings, ``context.tcf`` TC string), each purpose those signals speak about takes the
   stricter of the two sources (``sidecar.decision.consent_signals``): a grant needs both to grant.
   ``Sec-GPC: 1`` denies ads where the region's rule says so.
2b. With ``consent.regions`` in the plan, the region's rule (from the load balancer's trusted
   client-region headers, else the plan's default region) gives each purpose's default when
   nobody speaks about it and names the sources that may grant over a denied default; a
   region the event claims (``context.region``) is applied too, and can only deny more.
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

from formats.plan.model import Plan, RegionRule
from sidecar.decision import consent_signals
from sidecar.decision.rollout import in_rollout

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
    region: RegionChoice | None = None

    @property
    def meta_ldu(self) -> bool:
        """Meta's Limited Data Use applies under the region's rule (or the claimed one)."""
        if self.region is None:
            return False
        rules = (self.region.rule, self.region.claimed_rule)
        return any(r is not None and r.meta_ldu for r in rules)

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
            "region": self.region.audit() if self.region else None,
            "plan_version": self.plan_version,
            "decided_at": self.decided_at,
        }


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, as far as the sidecar can trust it.

    ``country``/``subdivision`` come from the load balancer's client-region headers (Terraform
    adds them to browser requests; docs/privacy.md), ``gpc`` from the ``Sec-GPC`` header. None
    means unknown: the plan's default region applies.
    """

    country: str | None = None
    subdivision: str | None = None
    gpc: bool = False


@dataclass(frozen=True)
class RegionChoice:
    rule: RegionRule | None
    source: str  # "header" (trusted), "default" (the plan's default region) or "none"
    country: str | None = None
    subdivision: str | None = None
    claimed: str | None = None  # the region the event itself claimed, when it was applied
    claimed_rule: RegionRule | None = None

    def audit(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule.name if self.rule else None,
            "source": self.source,
            "country": self.country,
            "subdivision": self.subdivision,
        }
        if self.claimed_rule is not None:
            out["claimed"] = self.claimed
            out["claimed_rule"] = self.claimed_rule.name
        return out


def choose_region(envelope: dict[str, Any], plan: Plan, origin: RequestOrigin) -> RegionChoice:
    """The trusted region (load balancer headers, else the plan's default) and, separately, the
    rule for a region the event claims (``context.region``, ``DE`` or ``US-CA``), which can
    only make the decision stricter: both rules are applied and each purpose takes the stricter.
    """
    policy = plan.consent
    if not policy.regions:
        return RegionChoice(None, "none")
    if origin.country:
        rule = policy.rule_for(origin.country, origin.subdivision)
        choice = RegionChoice(rule, "header", origin.country, origin.subdivision)
    else:
        choice = RegionChoice(policy.regions[policy.default_region], "default")
    claimed = (envelope.get("context") or {}).get("region")
    if isinstance(claimed, str) and claimed.strip():
        code = claimed.strip().upper()
        country, _, sub = code.partition("-")
        claimed_rule = policy.rule_for(country, code if sub else None)
        if claimed_rule is not None and claimed_rule is not choice.rule:
            return RegionChoice(
                choice.rule, choice.source, choice.country, choice.subdivision, code, claimed_rule
            )
    return choice


_SIGNALS = (
    ("gcs", consent_signals.purposes_from_gcs),
    ("gcd", consent_signals.purposes_from_gcd),
    ("tcf", consent_signals.purposes_from_tcf),
)


def _spoken(
    envelope: dict[str, Any], plan: Plan
) -> tuple[dict[str, list[tuple[str, bool]]], tuple[str, ...], tuple[str, ...]]:
    """purpose -> [(source, granted)] for every source that speaks about it, in the order
    event, gcs, gcd, tcf; plus the signals read and the undecodable ones (which deny every
    purpose: fail closed; their text is never repeated)."""
    consent = envelope.get("consent") or {}
    context = envelope.get("context") or {}
    spoken: dict[str, list[tuple[str, bool]]] = {p: [] for p in plan.purposes}
    for name in plan.purposes:
        value = consent.get(name)
        if isinstance(value, bool):
            spoken[name].append(("event", value))
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
            if purpose in spoken:
                spoken[purpose].append((name, granted))
    return spoken, tuple(present), tuple(problems)


def _decide_purpose(
    purpose: str,
    spoken: list[tuple[str, bool]],
    plan: Plan,
    rule: RegionRule | None,
    gpc: bool,
) -> PurposeState:
    """One purpose under one region rule.

    With nobody speaking, the region's default holds (else the plan's `missing` policy). Any
    source that denies, denies. A grant needs every speaking source to grant and, when the
    default is "denied", at least one of them to be allowed to grant in this region.
    """
    spec = plan.purposes[purpose]
    by_basis = plan.consent.missing == "by_basis" and spec.basis == "legitimate_interest"
    if rule is not None and purpose in rule.defaults:
        default, default_source = rule.defaults[purpose], f"region:{rule.name}"
    else:
        default, default_source = by_basis, "basis" if by_basis else "missing"
    may_grant = rule.may_grant if rule is not None else ("event",)
    if gpc and purpose == "ads" and rule is not None and rule.gpc_denies_ads:
        spoken = [*spoken, ("gpc", False)]
    if not spoken:
        return PurposeState(default, default_source)
    deniers = [name for name, granted in spoken if not granted]
    if deniers:
        event_spoke = any(name == "event" for name, _ in spoken)
        if "event" in deniers:
            return PurposeState(False, "event")
        if not event_spoke and not default and "gpc" not in deniers:
            return PurposeState(False, default_source)
        return PurposeState(False, deniers[0])
    if default or any(name in may_grant for name, _ in spoken):
        granter = next((n for n, _ in spoken if n in may_grant), spoken[0][0])
        return PurposeState(True, granter if not default else spoken[0][0])
    return PurposeState(False, default_source)


def effective_purposes(
    envelope: dict[str, Any], plan: Plan, origin: RequestOrigin | None = None
) -> tuple[dict[str, PurposeState], tuple[str, ...], tuple[str, ...]]:
    """The purposes after the event's claims, the CMP's signals, GPC and the region's rules.

    Returns the purposes, the signals read, and the problems of undecodable signals.
    """
    states, signals, problems, _ = _effective(envelope, plan, origin or RequestOrigin())
    return states, signals, problems


def _effective(
    envelope: dict[str, Any], plan: Plan, origin: RequestOrigin
) -> tuple[dict[str, PurposeState], tuple[str, ...], tuple[str, ...], RegionChoice]:
    spoken, signals, problems = _spoken(envelope, plan)
    region = choose_region(envelope, plan, origin)
    context = envelope.get("context") or {}
    gpc = origin.gpc or context.get("gpc") == "1"
    states: dict[str, PurposeState] = {}
    for purpose in plan.purposes:
        state = _decide_purpose(purpose, spoken[purpose], plan, region.rule, gpc)
        if region.claimed_rule is not None and state.granted:
            claimed = _decide_purpose(purpose, spoken[purpose], plan, region.claimed_rule, gpc)
            if not claimed.granted:
                state = PurposeState(False, f"claimed_{claimed.source}")
        states[purpose] = state
    return states, signals, problems, region


def rollout_key(envelope: dict[str, Any]) -> str | None:
    """The id the rollout split is computed on: the browser's client_id, exactly as the
    browser tag computes it. None when the event has no client_id (an order webhook that could
    not be joined to a browser): no browser tag decided for it, so the server always sends it
    and the platforms deduplicate against the pixel by event id / transaction id. Splitting such
    events on another id would drop the share of them that neither side sends."""
    value = envelope.get("client_id")
    return value if isinstance(value, str) and value else None


def decide(
    envelope: dict[str, Any],
    plan: Plan,
    source: str,
    now: float,
    origin: RequestOrigin | None = None,
) -> Decision:
    purposes, signals, problems, region = _effective(envelope, plan, origin or RequestOrigin())
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
        region=region,
    )
