"""Replaying quarantined webhook bodies with the code and plan of the day.

A quarantined body was authentic when it arrived; replay checks that again with the source's
current secret (the kept signature header; a Stripe timestamp is not held to the 300 s
tolerance, which guards against replays of intercepted requests, not against our own store),
then maps and queues it exactly as the webhook route does. Event ids and dedupe keys make a
replay idempotent: an event that was accepted meanwhile is answered ``duplicate``. The
delivery worker then applies each destination's acceptance window to the event's business
time, so a body replayed too late is recorded ``expired: <rule>`` instead of being sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from formats.plan.model import Plan
from sidecar.ingest import Pipeline
from sidecar.store.base import QuarantinedBody
from sidecar.verification import webhook_signatures as sig
from sidecar.webhooks import handling, identity

RESOLVED = ("accepted", "duplicate", "ignored")


@dataclass(frozen=True)
class ReplayResult:
    id: str
    status: str  # accepted, duplicate, ignored, still_unmappable, not_verified, no_source
    message: str
    events: tuple[dict[str, Any], ...] = ()

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED


class ReplayRefused(RuntimeError):
    """Nothing can be replayed (a secret the source needs is not in the environment)."""


def secrets_for(plan: Plan, source_name: str, environ: Mapping[str, str]) -> list[str]:
    source = plan.sources[source_name]
    ref = source.secrets.get("secret")
    if ref is None:
        raise ReplayRefused(f"source {source_name} names no secret in the plan")
    raw = environ.get(ref.env, "")
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    if not lines:
        raise ReplayRefused(
            f"{ref.env} is not set: replay re-verifies each body with the {source_name} secret"
        )
    return lines


def _verify(platform: str, secrets: list[str], item: QuarantinedBody) -> sig.WebhookCheck:
    headers = item.headers
    if platform == "shopify":
        return sig.verify_shopify(secrets, headers.get(sig.SHOPIFY_HEADER), item.body)
    if platform == "woocommerce":
        return sig.verify_woocommerce(secrets, headers.get(sig.WOOCOMMERCE_HEADER), item.body)
    header = headers.get(sig.STRIPE_HEADER) or ""
    stamp = 0
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            stamp = int(value.strip())
    return sig.verify_stripe(secrets, header, item.body, now=stamp, tolerance=0)


def replay_one(
    plan: Plan,
    store: Any,
    pipeline: Pipeline,
    item: QuarantinedBody,
    environ: Mapping[str, str],
    now: float,
) -> ReplayResult:
    source = plan.sources.get(item.source)
    if source is None or source.kind != item.platform:
        result = ReplayResult(
            item.id, "no_source", f"the plan has no {item.platform} source named {item.source}"
        )
        store.quarantine_result(item.id, result.message, None)
        return result
    check = _verify(item.platform, secrets_for(plan, item.source, environ), item)
    if not check.ok:
        result = ReplayResult(
            item.id,
            "not_verified",
            f"the kept signature no longer verifies ({check.reason}); was the secret rotated?",
        )
        store.quarantine_result(item.id, result.message, None)
        return result
    handled = handling.handle_body(
        plan, store, pipeline, source, item.headers, item.body, identity.JoinCounters()
    )
    if handled.errors:
        text = "; ".join(f"{e['pointer']}: {e['message']}" for e in handled.errors)
        result = ReplayResult(item.id, "still_unmappable", text, tuple(handled.answers))
        store.quarantine_result(item.id, f"still unmappable: {text}", None)
        return result
    message = handled.reason or ", ".join(f"{a['event_id']} {a['status']}" for a in handled.answers)
    result = ReplayResult(item.id, handled.status, message, tuple(handled.answers))
    store.quarantine_result(item.id, f"{handled.status}: {message}", now)
    return result
