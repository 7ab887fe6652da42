"""Phased rollout: the traffic moves (canary, promote, rollback) and the health gate.

Revision rollout keeps its state in Cloud Run itself, as traffic tags, so any machine (or CI
job) can run the next step without local state:

- ``canary``  : newest ready revision gets N% and tag ``canary``; the revision that served
  most traffic before keeps 100-N% and tag ``stable``.
- ``promote`` : the ``canary`` revision gets 100% and becomes ``stable``; the old stable
  revision stays addressable at 0% as ``previous``.
- ``rollback``: during a canary, everything goes back to ``stable``; after a promote, back to
  ``previous``. The abandoned revision stays at 0% tagged ``rolled-back`` for inspection.

The gate compares the sidecar's own counters (``GET /v1/stats``) of the canary and the
stable revision, each read through its tag URL so each answer comes from that revision. The
counters are internals, so each read is signed with the sidecar's server keyset (version 2
request signature: method and path; docs/sidecar.md "GET /v1/stats").
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from formats.signing import SIGNATURE_HEADER, Keyset, sign_request_v2
from ops.cloudrun import CloudRunError, ServiceTraffic, Split

CANARY, STABLE, PREVIOUS, ROLLED_BACK = "canary", "stable", "previous", "rolled-back"
ROLE_TAGS = frozenset({CANARY, STABLE, PREVIOUS, ROLLED_BACK})

# Gate defaults, documented in docs/operations.md.
MIN_REQUESTS = 200  # canary requests needed before its error rate means anything
MAX_ERROR_RATE_INCREASE = 0.01  # canary 5xx rate may exceed stable's by 1 percentage point
MAX_FAILURE_RATE_INCREASE = 0.02  # delivery-failure rate: 2 points (destinations are noisy)


def _others(current: ServiceTraffic, *exclude: str) -> list[Split]:
    """Tag-only targets we did not assign keep their tag (at 0%)."""
    return [
        Split(s.revision, 0, s.tag)
        for s in current.splits
        if s.tag and s.tag not in ROLE_TAGS and s.revision not in exclude
    ]


def canary_split(current: ServiceTraffic, percent: int) -> list[Split]:
    if not 1 <= percent <= 99:
        raise CloudRunError(f"--percent must be between 1 and 99, got {percent}")
    new = current.latest_ready
    if not new:
        raise CloudRunError(f"{current.name} has no ready revision")
    if current.percent_of(new) == 100:
        raise CloudRunError(
            f"the newest ready revision {new} already serves 100%: deploy the new revision "
            "without traffic (gcloud run deploy --no-traffic) and run canary again"
        )
    serving: dict[str, int] = {}
    for s in current.splits:
        if s.revision != new:
            serving[s.revision] = serving.get(s.revision, 0) + s.percent
    serving = {r: p for r, p in serving.items() if p > 0}
    if not serving:
        raise CloudRunError(f"no revision other than {new} serves traffic to split with")
    stable_tag = current.by_tag(STABLE)
    stable = (
        stable_tag.revision
        if stable_tag is not None and stable_tag.revision in serving
        else max(sorted(serving), key=lambda r: serving[r])
    )
    return [
        Split(stable, 100 - percent, STABLE),
        Split(new, percent, CANARY),
        *_others(current, stable, new),
    ]


def promote_split(current: ServiceTraffic) -> list[Split]:
    canary = current.by_tag(CANARY)
    if canary is None:
        raise CloudRunError(
            f"{current.name} has no revision tagged {CANARY!r}: run `sgtm rollout canary` first"
        )
    stable = current.by_tag(STABLE)
    splits = [Split(canary.revision, 100, STABLE)]
    if stable is not None and stable.revision != canary.revision:
        splits.append(Split(stable.revision, 0, PREVIOUS))
    return splits + _others(current, canary.revision, *(s.revision for s in splits))


def rollback_split(current: ServiceTraffic) -> list[Split]:
    canary, stable, previous = (current.by_tag(t) for t in (CANARY, STABLE, PREVIOUS))
    if canary is not None and stable is not None:
        target, abandoned = stable.revision, canary.revision
    elif previous is not None and stable is not None:
        target, abandoned = previous.revision, stable.revision
    else:
        raise CloudRunError(
            f"nothing to roll back to on {current.name}: no canary in progress (tags "
            f"{CANARY!r}+{STABLE!r}) and no {PREVIOUS!r} revision from a promote"
        )
    splits = [Split(target, 100, STABLE)]
    if abandoned != target:
        splits.append(Split(abandoned, 0, ROLLED_BACK))
    return splits + _others(current, target, abandoned)


# -- the health gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    revision: str
    requests: int
    errors_5xx: int
    delivery_failures: int
    delivered: int
    # The sidecar says where its delivery figures come from: "store", "unavailable", or that
    # its backend does not count them; "" when it does not say.
    delivery_scope: str = ""

    @property
    def delivery_counted(self) -> bool:
        return self.delivery_scope in ("", "store")

    @property
    def error_rate(self) -> float:
        return self.errors_5xx / self.requests if self.requests else 0.0

    @property
    def failure_rate(self) -> float:
        attempts = self.delivered + self.delivery_failures
        return self.delivery_failures / attempts if attempts else 0.0


def parse_stats(doc: object, url: str) -> Stats:
    if not isinstance(doc, dict):
        raise CloudRunError(f"{url}: expected a JSON object of counters")
    values: dict[str, int] = {}
    for key in ("requests", "errors_5xx", "delivery_failures", "delivered"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CloudRunError(f"{url}: field {key!r} must be a non-negative integer")
        values[key] = value
    revision = doc.get("revision")
    if not isinstance(revision, str) or not revision:
        raise CloudRunError(f"{url}: field 'revision' must be a non-empty string")
    scope = doc.get("scope")
    delivery_scope = scope.get("delivery") if isinstance(scope, dict) else ""
    return Stats(revision=revision, delivery_scope=str(delivery_scope or ""), **values)


def fetch_stats(base_url: str, keyset: Keyset, timeout: float = 10.0) -> Stats:
    url = base_url.rstrip("/") + "/v1/stats"
    if not url.startswith(("https://", "http://")):
        raise CloudRunError(f"{url}: stats URL must be http(s)")
    # The path as sent: a tag URL serves the sidecar at its root, so this is /v1/stats.
    path = urllib.parse.urlsplit(url).path
    signed = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, headers={SIGNATURE_HEADER: sign_request_v2(keyset, "GET", path, b"")}
    )
    try:
        with urllib.request.urlopen(signed, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            body = resp.read(1_000_000)
    except urllib.error.HTTPError as exc:
        raise CloudRunError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CloudRunError(f"{url}: unreachable ({reason})") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise CloudRunError(f"{url}: answer is not JSON") from None
    return parse_stats(doc, url)


@dataclass(frozen=True)
class GateRules:
    min_requests: int = MIN_REQUESTS
    max_error_rate_increase: float = MAX_ERROR_RATE_INCREASE
    max_failure_rate_increase: float = MAX_FAILURE_RATE_INCREASE


def judge(
    canary: Stats,
    stable: Stats,
    rules: GateRules,
    expect_canary: str = "",
    expect_stable: str = "",
) -> list[str]:
    """Reasons to refuse the promotion; empty when the canary is healthy enough."""
    reasons = []
    for stats, expected, role in ((canary, expect_canary, CANARY), (stable, expect_stable, STABLE)):
        if expected and stats.revision != expected:
            reasons.append(
                f"the {role} URL answered from revision {stats.revision}, expected {expected}"
            )
    if canary.requests < rules.min_requests:
        reasons.append(
            f"too little canary traffic to judge: {canary.requests} request(s), "
            f"need at least {rules.min_requests}"
        )
        return reasons
    if canary.error_rate > stable.error_rate + rules.max_error_rate_increase:
        reasons.append(
            f"canary 5xx rate {canary.error_rate:.2%} is worse than stable's "
            f"{stable.error_rate:.2%} by more than {rules.max_error_rate_increase:.2%}"
        )
    if canary.delivery_scope == "unavailable":
        reasons.append("the canary could not read its delivery figures (store unavailable)")
    elif not (canary.delivery_counted and stable.delivery_counted):
        pass  # nothing to compare; the caller reports that the check was skipped
    elif canary.failure_rate > stable.failure_rate + rules.max_failure_rate_increase:
        reasons.append(
            f"canary delivery-failure rate {canary.failure_rate:.2%} is worse than stable's "
            f"{stable.failure_rate:.2%} by more than {rules.max_failure_rate_increase:.2%}"
        )
    return reasons


def describe(splits: list[Split] | tuple[Split, ...]) -> list[str]:
    return [
        f"  {s.revision:<32} {s.percent:>3}%  {('tag ' + s.tag) if s.tag else ''}".rstrip()
        + (f"  {s.url}" if s.url else "")
        for s in splits
    ]
