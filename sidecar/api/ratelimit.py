"""Rate limits of the endpoints callers authenticate to (the Event API and ``/v1/context``).

Three buckets, so that nobody can spend somebody else's budget (docs/sidecar.md "Threat model"):

- per client IP (``rate_limit_per_ip``), counted for every request before anything else;
- per key (``rate_limit_per_key``), counted only for requests whose credential verified: a
  forged token that merely *claims* a key id is checked against the key's bucket (a key that
  is over its limit is over it for everyone) but never spends it;
- per claimed key id for requests that did *not* verify, ten times larger: a flood of forgeries
  aimed at one key id from many addresses is cut off without touching the key's own budget.

The views record the verified caller with ``verified`` (``g.sgtm_caller``); flask-limiter's
``deduct_when`` reads it after the answer, so the test-then-deduct happens around the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, g, request
from flask_limiter import Limiter
from limits import parse_many

from sidecar.verification.auth import Caller, request_kid

# How much larger the bucket of unverified requests per claimed key id is than the key's own.
CLAIMED_FACTOR = 10


def verified(caller: Caller) -> Caller:
    """Mark the request as authenticated (the key's bucket is then spent)."""
    g.sgtm_caller = caller
    return caller


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _claimed() -> str:
    return request_kid(request.headers) or ""


def _is_verified(_response: Response) -> bool:
    return getattr(g, "sgtm_caller", None) is not None


def _not_verified(_response: Response) -> bool:
    return getattr(g, "sgtm_caller", None) is None


def claimed_limit(per_key: str) -> str:
    """``per_key`` with every amount multiplied by ``CLAIMED_FACTOR``, same windows."""
    return ";".join(
        f"{item.amount * CLAIMED_FACTOR} per {item.get_expiry()} seconds"
        for item in parse_many(per_key)
    )


def decorators(limiter: Limiter, per_ip: str, per_key: str) -> list[Callable[[Any], Any]]:
    """The three limits, for ``limiter.limit(...)(view or blueprint)``."""
    no_claim = lambda: not _claimed()  # noqa: E731 - a predicate, named below
    return [
        limiter.limit(per_ip, key_func=lambda: "ip:" + client_ip(), methods=["POST"]),
        limiter.limit(
            per_key,
            key_func=lambda: "key:" + _claimed(),
            methods=["POST"],
            exempt_when=no_claim,
            deduct_when=_is_verified,
        ),
        limiter.limit(
            claimed_limit(per_key),
            key_func=lambda: "claimed:" + _claimed(),
            methods=["POST"],
            exempt_when=no_claim,
            deduct_when=_not_verified,
        ),
    ]
