"""Verify order-webhook signatures from Shopify, WooCommerce and Stripe (protocols.md §5).

Every check runs over the raw request bytes (never re-serialised JSON) and compares in constant
time. Each function takes several secrets, because both Shopify and Stripe sign with the old
and the new secret for a while during rotation. Results carry a reason from a closed set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from formats.plan.model import SOURCE_DEFAULTS

SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"
WOOCOMMERCE_HEADER = "X-WC-Webhook-Signature"
STRIPE_HEADER = "Stripe-Signature"
STRIPE_TOLERANCE_SECONDS: int = SOURCE_DEFAULTS["stripe"]["tolerance_seconds"]

WebhookReason = Literal["missing", "malformed", "no_secret", "bad_signature", "stale", "future"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class WebhookCheck:
    ok: bool
    reason: WebhookReason | None = None
    # Stripe only: the signed timestamp, for freshness metrics and dedupe windows.
    timestamp: int | None = None


def _secret_bytes(secret: str | bytes) -> bytes:
    # All three platforms use the secret string's UTF-8 bytes as the key (Stripe's `whsec_`
    # secret is not base64-decoded).
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def _secrets(secrets: Iterable[str | bytes]) -> list[bytes]:
    return [_secret_bytes(s) for s in secrets if s]


def base64_hmac(secret: str | bytes, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): the Shopify and WooCommerce header value."""
    digest = hmac.new(_secret_bytes(secret), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _verify_base64(secrets: Iterable[str | bytes], header: str | None, body: bytes) -> WebhookCheck:
    keys = _secrets(secrets)
    if not keys:
        return WebhookCheck(False, "no_secret")
    if header is None or header.strip() == "":
        return WebhookCheck(False, "missing")
    received = header.strip()
    try:
        decoded = base64.b64decode(received, validate=True)
    except (binascii.Error, ValueError):
        return WebhookCheck(False, "malformed")
    if len(decoded) != hashlib.sha256().digest_size:
        return WebhookCheck(False, "malformed")
    matched = False
    for key in keys:
        expected = hmac.new(key, body, hashlib.sha256).digest()
        # Compare digests, not text: no early exit, and every secret is tried.
        matched |= hmac.compare_digest(expected, decoded)
    return WebhookCheck(True) if matched else WebhookCheck(False, "bad_signature")


def verify_shopify(secrets: Iterable[str | bytes], header: str | None, body: bytes) -> WebhookCheck:
    """X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw body with the app's client secret."""
    return _verify_base64(secrets, header, body)


def verify_woocommerce(
    secrets: Iterable[str | bytes], header: str | None, body: bytes
) -> WebhookCheck:
    """X-WC-Webhook-Signature: same construction as Shopify.

    WooCommerce's creation ping has no signature header at all; use `woocommerce_ping_id`
    to recognise it before calling this.
    """
    return _verify_base64(secrets, header, body)


def woocommerce_ping_id(body: bytes, content_type: str | None) -> int | None:
    """The webhook id of a WooCommerce activation ping (`webhook_id=<id>` form body), else None.

    The ping is unsigned and carries no order, so answering 200 to it reveals nothing.
    """
    if content_type is None or not content_type.lower().startswith(
        "application/x-www-form-urlencoded"
    ):
        return None
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    values = form.get("webhook_id")
    if set(form) != {"webhook_id"} or values is None or len(values) != 1:
        return None
    return int(values[0]) if _DIGITS.fullmatch(values[0]) else None


def stripe_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 over `"<t>.<body>"`: one `v1` value of a Stripe-Signature header."""
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(_secret_bytes(secret), signed, hashlib.sha256).hexdigest()


def stripe_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """A Stripe-Signature header value, for local fakes and tests of webhook handlers."""
    return f"t={timestamp},v1={stripe_signature(secret, timestamp, body)}"


def verify_stripe(
    secrets: Iterable[str | bytes],
    header: str | None,
    body: bytes,
    now: int | None = None,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> WebhookCheck:
    """Stripe-Signature `t=...,v1=...[,v1=...]`; any v1 matching any secret is enough.

    Unlike stripe-python, timestamps more than `tolerance` in the future are refused too: a
    signature dated ahead can only come from a badly skewed clock or a replay setup. The MAC is
    checked first, so `stale`/`future` only ever describe a genuine delivery.
    """
    keys = _secrets(secrets)
    if not keys:
        return WebhookCheck(False, "no_secret")
    if header is None or header.strip() == "":
        return WebhookCheck(False, "missing")
    parsed = _parse_stripe(header)
    if parsed is None:
        return WebhookCheck(False, "malformed")
    timestamp, candidates = parsed
    matched = False
    for key in keys:
        expected = stripe_signature(key, timestamp, body).encode("ascii")
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    if not matched:
        return WebhookCheck(False, "bad_signature", timestamp)
    current = int(time.time()) if now is None else now
    if timestamp < current - tolerance:
        return WebhookCheck(False, "stale", timestamp)
    if timestamp > current + tolerance:
        return WebhookCheck(False, "future", timestamp)
    return WebhookCheck(True, None, timestamp)


def _parse_stripe(header: str) -> tuple[int, list[str]] | None:
    """(t, [v1...]) or None when there is no single numeric t or no well-formed v1."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.strip().split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if timestamp is not None or _DIGITS.fullmatch(value) is None:
                return None
            timestamp = int(value)
        elif name == "v1":
            # Stripe sends lowercase hex; anything else cannot match and is a broken header.
            if _HEX64.fullmatch(value) is None:
                return None
            candidates.append(value)
        # v0 (test-mode legacy) and unknown schemes are ignored, as Stripe's SDKs do.
    if timestamp is None or not candidates:
        return None
    return timestamp, candidates
