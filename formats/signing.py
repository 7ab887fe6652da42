"""Our own HMAC keys: keysets, request signatures and browser tokens.

Formats are the contracts in docs/architecture.md ("Keys and signatures"). Verification returns
a result with a reason from a closed set instead of raising, so the HTTP layer maps every reason
to a 401 and counts it; nothing here logs and no error message contains key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

SIGNATURE_HEADER = "X-Sgtm-Signature"
TOLERANCE_SECONDS = 300
# RFC 2104 §3: keys shorter than the hash output weaken HMAC.
MIN_KEY_BYTES = 32
# A key id travels inside `kid=...,` and `v1.<kid>.`: no ',', '=' or '.'.
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")

# Version 1 covers the timestamp and the body; version 2 also the method and the path, so a
# signed request cannot be replayed to another endpoint (docs/architecture.md).
SIGNATURE_VERSIONS = ("v1", "v2")
SignatureReason = Literal[
    "missing", "malformed", "unknown_key", "bad_signature", "stale", "future", "version"
]
TokenReason = Literal[
    "missing",
    "malformed",
    "unknown_key",
    "bad_signature",
    "expired",
    "future",
    "too_long",
    "wrong_origin",
]


class KeysetError(ValueError):
    """A keyset that cannot be used; the message names the variable and the JSON pointer."""


@dataclass(frozen=True)
class Keyset:
    """Key id -> key bytes, in file order; `active_kid` signs, every key verifies."""

    keys: Mapping[str, bytes] = field(repr=False)
    active_kid: str

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active_kid]


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    reason: SignatureReason | None = None
    kid: str | None = None


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: TokenReason | None = None
    kid: str | None = None
    origin: str | None = None
    expires_at: int | None = None


# --- keysets -------------------------------------------------------------------------------


def parse_keyset(text: str | None, *, source: str, active_kid: str | None = None) -> Keyset:
    """Parse `{"keys": {"<kid>": "<base64>"}}`; `source` names where it came from in errors."""
    if text is None or text.strip() == "":
        raise KeysetError(f'{source}: empty; expected JSON {{"keys": {{"<key id>": "<base64>"}}}}')
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise KeysetError(f"{source}: key id {exc.args[0]!r} appears twice") from None
    except json.JSONDecodeError as exc:
        raise KeysetError(
            f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict):
        raise KeysetError(f'{source}: /: expected an object with a "keys" member')
    extra = sorted(set(doc) - {"keys"})
    if extra:
        raise KeysetError(f'{source}: /{extra[0]}: unknown member; only "keys" is allowed')
    raw_keys = doc.get("keys")
    if not isinstance(raw_keys, dict):
        raise KeysetError(f"{source}: /keys: expected an object of key id -> base64 key")
    if not raw_keys:
        raise KeysetError(f"{source}: /keys: no keys; at least one is needed")
    keys: dict[str, bytes] = {}
    for kid, encoded in raw_keys.items():
        pointer = f"{source}: /keys/{_pointer_escape(kid)}"
        if _KID.fullmatch(kid) is None:
            raise KeysetError(f"{pointer}: key id must be 1-64 characters of A-Z a-z 0-9 _ -")
        if not isinstance(encoded, str):
            raise KeysetError(f"{pointer}: expected a base64 string")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeysetError(f"{pointer}: not valid base64") from None
        if len(key) < MIN_KEY_BYTES:
            raise KeysetError(
                f"{pointer}: key is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
            )
        keys[kid] = key
    if active_kid is None or active_kid == "":
        active_kid = next(iter(keys))
    elif active_kid not in keys:
        raise KeysetError(
            f"{source}: active key id {active_kid!r} is not in /keys "
            f"(have: {', '.join(sorted(keys))})"
        )
    return Keyset(keys=keys, active_kid=active_kid)


def keyset_from_env(
    variable: str,
    environ: Mapping[str, str] | None = None,
    active_variable: str = "SGTM_ACTIVE_KEY_ID",
) -> Keyset:
    """Load the keyset held by an environment variable (the plan names which one)."""
    env = os.environ if environ is None else environ
    if variable not in env:
        raise KeysetError(f"{variable}: not set; it must hold the keyset JSON")
    return parse_keyset(env[variable], source=variable, active_kid=env.get(active_variable))


def generate_keyset(kid: str = "k1") -> str:
    """A fresh keyset JSON with one 32-byte key, for `sgtm` setup and tests."""
    if _KID.fullmatch(kid) is None:
        raise ValueError("key id must be 1-64 characters of A-Z a-z 0-9 _ -")
    key = base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii")
    return json.dumps({"keys": {kid: key}})


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in pairs:
        if name in out:
            raise _DuplicateKey(name)
        out[name] = value
    return out


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# --- request signatures ---------------------------------------------------------------------


def _request_mac(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def _request_mac_v2(key: bytes, timestamp: int, method: str, path: str, body: bytes) -> str:
    signed = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def sign_request(keyset: Keyset, body: bytes, now: int | None = None) -> str:
    """The version 1 X-Sgtm-Signature value for `body` (timestamp and body), signed with the
    active key. The delivery worker signs its batches to sGTM this way (the generated client
    verifies it); callers of the sidecar should use `sign_request_v2`."""
    timestamp = int(time.time()) if now is None else now
    mac = _request_mac(keyset.active_key, timestamp, body)
    return f"t={timestamp},kid={keyset.active_kid},v1={mac}"


def sign_request_v2(
    keyset: Keyset, method: str, path: str, body: bytes, now: int | None = None
) -> str:
    """The version 2 X-Sgtm-Signature value: HMAC over `<t>.<METHOD>.<path>.<body>`, where
    `path` is the request path without the query string (e.g. `/v1/events`)."""
    timestamp = int(time.time()) if now is None else now
    mac = _request_mac_v2(keyset.active_key, timestamp, method, path, body)
    return f"t={timestamp},kid={keyset.active_kid},v2={mac}"


def verify_request(
    keyset: Keyset,
    header: str | None,
    body: bytes,
    now: int | None = None,
    tolerance: int = TOLERANCE_SECONDS,
    *,
    method: str | None = None,
    path: str | None = None,
    versions: tuple[str, ...] = SIGNATURE_VERSIONS,
) -> SignatureCheck:
    """Check an X-Sgtm-Signature value against the raw body bytes (and, for version 2, the
    request's method and path). `versions` are those accepted; a header carries exactly one.

    The MAC is checked before the clock, so `stale`/`future` only ever describe a genuine
    request (a replay or a skewed clock), never a forgery.
    """
    if header is None or header.strip() == "":
        return SignatureCheck(False, "missing")
    parts = _parse_params(header)
    if parts is None:
        return SignatureCheck(False, "malformed")
    t, kid = parts.get("t"), parts.get("kid")
    sent = [v for v in SIGNATURE_VERSIONS if v in parts]
    if t is None or kid is None or len(sent) != 1:
        return SignatureCheck(False, "malformed")
    version = sent[0]
    mac = parts[version]
    if _DIGITS.fullmatch(t) is None or _KID.fullmatch(kid) is None or _HEX64.fullmatch(mac) is None:
        return SignatureCheck(False, "malformed")
    if version not in versions or (version == "v2" and (method is None or path is None)):
        return SignatureCheck(False, "version", kid)
    key = keyset.keys.get(kid)
    if key is None:
        return SignatureCheck(False, "unknown_key", kid)
    timestamp = int(t)
    if version == "v2":
        expected = _request_mac_v2(key, timestamp, method or "", path or "", body)
    else:
        expected = _request_mac(key, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        return SignatureCheck(False, "bad_signature", kid)
    current = int(time.time()) if now is None else now
    if timestamp < current - tolerance:
        return SignatureCheck(False, "stale", kid)
    if timestamp > current + tolerance:
        return SignatureCheck(False, "future", kid)
    return SignatureCheck(True, None, kid)


def _parse_params(header: str) -> dict[str, str] | None:
    """`a=1,b=2` -> dict; None on an empty item, a missing '=' or a repeated name."""
    out: dict[str, str] = {}
    for item in header.strip().split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name == "" or name in out:
            return None
        out[name] = value
    return out


# --- browser tokens -------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes | None:
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _token_mac(key: bytes, kid: str, payload_part: str) -> str:
    signed = f"v1.{kid}.{payload_part}".encode("ascii")
    return _b64url(hmac.new(key, signed, hashlib.sha256).digest())


def normalize_origin(origin: str) -> str | None:
    """`https://Shop.Example:443` style origin, lower-cased; None if it is not an origin."""
    candidate = origin.strip().lower().rstrip("/")
    return candidate if _ORIGIN.fullmatch(candidate) else None


def issue_token(keyset: Keyset, origin: str, ttl: int, now: int | None = None) -> str:
    """A browser token for `origin`, valid for `ttl` seconds, signed with the active key."""
    normalized = normalize_origin(origin)
    if normalized is None:
        raise ValueError("origin must look like https://shop.example.com (scheme, host, port)")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    issued = int(time.time()) if now is None else now
    claims = {"origin": normalized, "exp": issued + ttl, "iat": issued}
    payload = _b64url(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    kid = keyset.active_kid
    return f"v1.{kid}.{payload}.{_token_mac(keyset.active_key, kid, payload)}"


def token_from_authorization(header: str | None) -> str | None:
    """The token in `Authorization: Bearer <token>`, or None."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or token.strip() == "":
        return None
    return token.strip()


def verify_token(
    keyset: Keyset,
    token: str | None,
    expected_origin: str | None,
    now: int | None = None,
    leeway: int = TOLERANCE_SECONDS,
    max_lifetime: int | None = None,
) -> TokenCheck:
    """Check a browser token; the request's Origin header must equal the token's origin.

    The MAC is checked before the payload is parsed, so unauthenticated JSON is never decoded.
    `leeway` allows for clock skew on `iat` only; `exp` is exact. `max_lifetime` (the plan's
    `token_ttl_seconds`) refuses tokens issued for longer, however genuine: a leaked
    ten-year token must not work for ten years.
    """
    if token is None or token.strip() == "":
        return TokenCheck(False, "missing")
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != "v1":
        return TokenCheck(False, "malformed")
    _, kid, payload_part, mac = parts
    if _KID.fullmatch(kid) is None or _B64URL.fullmatch(payload_part) is None:
        return TokenCheck(False, "malformed")
    if _b64url_decode(mac) is None:
        return TokenCheck(False, "malformed")
    key = keyset.keys.get(kid)
    if key is None:
        return TokenCheck(False, "unknown_key", kid)
    expected = _token_mac(key, kid, payload_part)
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        return TokenCheck(False, "bad_signature", kid)
    claims = _token_claims(payload_part)
    if claims is None:
        return TokenCheck(False, "malformed", kid)
    origin, exp, iat = claims
    if max_lifetime is not None and exp - iat > max_lifetime:
        return TokenCheck(False, "too_long", kid, origin, exp)
    current = int(time.time()) if now is None else now
    if current >= exp:
        return TokenCheck(False, "expired", kid, origin, exp)
    if iat > current + leeway:
        return TokenCheck(False, "future", kid, origin, exp)
    wanted = normalize_origin(expected_origin) if expected_origin else None
    if wanted is None or wanted != origin:
        return TokenCheck(False, "wrong_origin", kid, origin, exp)
    return TokenCheck(True, None, kid, origin, exp)


def _token_claims(payload_part: str) -> tuple[str, int, int] | None:
    raw = _b64url_decode(payload_part)
    if raw is None:
        return None
    try:
        claims = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    origin, exp, iat = claims.get("origin"), claims.get("exp"), claims.get("iat")
    if not isinstance(origin, str) or normalize_origin(origin) != origin:
        return None
    if not _is_int(exp) or not _is_int(iat):
        return None
    return origin, exp, iat


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
