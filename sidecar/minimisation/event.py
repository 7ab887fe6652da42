"""Build the forwarded event: only what the allowed destinations may receive survives.

Input is a validated envelope and its consent decision; output is one item of the sGTM batch
(docs/architecture.md, "Sidecar -> sGTM"). Rules, per destination the decision allows:

- ``user_data`` never travels as such: each fully allowed destination gets its own copy of the
  PII fields the plan lets it have, normalised and hashed by its rules (``sidecar.minimisation.pii``).
- An ``anonymized`` destination (analytics without consent, plan policy ``anonymize``) gets no
  PII, no IP and no user agent; when only such destinations remain, the event also loses its
  identifiers (client_id, session_id, user_id) and the click ids (fbp, fbc, gclid).
- IP: a destination whose plan says ``full`` gets the address as sent, ``anonymized`` gets it
  cut to /24 (IPv4) or /48 (IPv6), ``none`` gets null. ``context.ip`` carries the anonymised
  address only when some allowed destination may have an IP at all.
- The user agent is kept only in the entries of destinations whose plan sets ``user_agent``.
- Meta's click ids (fbp, fbc) stay only when a Meta destination is allowed; gclid only when a
  Google destination (GA4, Google Ads) is.
- Page and referrer URLs lose user info and query parameters that carry personal data
  (``sidecar.minimisation.url``, the plan's ``privacy.url_params``); when only anonymised destinations
  remain they lose query and fragment entirely. The tags apply the same rule per destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from formats.plan.model import Plan
from sidecar.decision.consent import ANONYMIZED, QUEUED, Decision
from sidecar.decision.consent_signals import google_ad_signals
from sidecar.minimisation.ip import IpError, anonymize_ip, parse_ip
from sidecar.minimisation.pii import DropReason, prepare_user_data
from sidecar.minimisation.url import minimise_url

IDENTIFIERS = ("client_id", "session_id", "user_id")
# Kinds that take Consent Mode's ad_user_data / ad_personalization.
GOOGLE_KINDS = ("ga4", "google_ads")
CLICK_IDS = {"fbp": ("meta_capi",), "fbc": ("meta_capi",), "gclid": ("google_ads", "ga4")}
URL_FIELDS = ("page_location", "page_referrer")


@dataclass(frozen=True)
class Minimised:
    item: dict[str, Any]
    # destination -> PII field -> why an allowed field was unusable (names and reasons, no values)
    pii_dropped: dict[str, dict[str, DropReason]] = field(default_factory=dict)


def minimise(envelope: dict[str, Any], decision: Decision, plan: Plan) -> Minimised:
    full = [d for d, outcome in decision.outcomes.items() if outcome == QUEUED]
    anonymized = [d for d, outcome in decision.outcomes.items() if outcome == ANONYMIZED]
    kinds = {plan.destinations[d].kind for d in full}
    item: dict[str, Any] = {
        "event_name": envelope["event_name"],
        "event_id": envelope["event_id"],
        "timestamp": envelope["timestamp"],
    }
    if full:
        for name in IDENTIFIERS:
            if name in envelope:
                item[name] = envelope[name]
    item["consent"] = {p: state.granted for p, state in decision.purposes.items()}
    item["params"] = envelope.get("params", {})

    source_context: dict[str, Any] = envelope.get("context", {})
    raw_ip = source_context.get("ip") or None
    user_agent = source_context.get("user_agent") or None
    context: dict[str, Any] = {}
    for name, value in source_context.items():
        if name in ("ip", "user_agent", "region", "gpc"):
            continue
        if name in CLICK_IDS and not kinds.intersection(CLICK_IDS[name]):
            continue
        if name in URL_FIELDS:
            value = minimise_url(
                value, not full, plan.privacy.deny_params, plan.privacy.keep_params
            )
            if not value:
                continue
        context[name] = value
    short_ip = _anonymized(raw_ip)
    if short_ip is not None and any(plan.destinations[d].ip != "none" for d in full):
        context["ip"] = short_ip
    item["context"] = context

    user_data = envelope.get("user_data", {})
    region = plan.default_country or None
    destinations: dict[str, Any] = {}
    dropped: dict[str, dict[str, DropReason]] = {}
    for name in full:
        dest = plan.destinations[name]
        prepared = prepare_user_data(user_data, dest.hashing, dest.pii, region)
        # "not_allowed" is the plan working as designed; keep only values that were unusable.
        unusable: dict[str, DropReason] = {
            f: r for f, r in prepared.dropped.items() if r != "not_allowed"
        }
        if unusable:
            dropped[name] = unusable
        destinations[name] = {
            "user_data": prepared.fields,
            "ip": _ip_for(dest.ip, raw_ip, short_ip),
            "user_agent": user_agent if dest.user_agent else None,
        }
        if dest.kind == "meta_capi" and decision.meta_ldu:
            # Limited Data Use, country and state 0: Meta geolocates the event (protocols.md).
            destinations[name]["data_processing_options"] = {
                "options": ["LDU"],
                "country": 0,
                "state": 0,
            }
    for name in anonymized:
        destinations[name] = {"user_data": {}, "ip": None, "user_agent": None, "anonymized": True}
    # Google's two advertising signals, each from its own CMP signal (docs/destinations.md).
    ads = decision.purposes.get("ads")
    signals = google_ad_signals(ads is not None and ads.granted, source_context)
    for name in full:
        entry = destinations[name]
        if plan.destinations[name].kind in GOOGLE_KINDS:
            entry["google_consent"] = dict(signals)
    item["destinations"] = {d: destinations[d] for d in decision.outcomes if d in destinations}
    return Minimised(item=item, pii_dropped=dropped)


def _anonymized(raw_ip: str | None) -> str | None:
    if raw_ip is None:
        return None
    short = anonymize_ip(raw_ip)
    return None if isinstance(short, IpError) else short


def _ip_for(policy: str, raw_ip: str | None, short_ip: str | None) -> str | None:
    if raw_ip is None or policy == "none":
        return None
    if policy == "full":
        address = parse_ip(raw_ip)
        return None if isinstance(address, IpError) else str(address)
    return short_ip
