"""Who may post events: browsers with a short-lived token, servers with a request signature.

- Browsers send ``Authorization: Bearer <token>`` (issued by the shop's backend, ``sgtm
  token``) and an ``Origin`` header. The origin must be on the web source's allow-list and equal
  the origin the token was issued for.
- Servers send ``X-Sgtm-Signature: t=..,kid=..,v2=..`` over the timestamp, method, path and
  raw body (``v1=..``, without method and path, while ``SGTM_SIGNATURE_VERSIONS`` allows it);
  no Origin needed.

Both key sets come from the environment variables the plan names (``token_keys``,
``signing_keys``); every key verifies, the first (or ``SGTM_ACTIVE_KEY_ID``) signs. Checks are
in ``formats.signing`` (constant-time). A failure raises ``AuthError`` (401) or
``ForbiddenError`` (403) before anything is parsed or stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from formats import signing
from formats.plan.model import SOURCE_DEFAULTS, Plan, Source
from sidecar.errors import AuthError, ForbiddenError, StartupError

BROWSER = "browser"
SERVER = "server"

_TOKEN_MESSAGES = {
    "missing": "no browser token; send Authorization: Bearer <token>",
    "malformed": "the browser token is malformed",
    "unknown_key": "the browser token names an unknown key id",
    "bad_signature": "the browser token's signature does not verify",
    "expired": "the browser token has expired; fetch a new one from the shop's backend",
    "future": "the browser token is issued in the future; check the issuing server's clock",
    "too_long": "the browser token's lifetime (exp - iat) is longer than the plan's "
    "token_ttl_seconds; issue tokens for at most that long",
}
_SIGNATURE_MESSAGES = {
    "missing": f"no request signature; send {signing.SIGNATURE_HEADER}",
    "malformed": f"{signing.SIGNATURE_HEADER} is malformed; expected t=<unix seconds>,kid=<key id>,v1=<hex>",
    "unknown_key": f"{signing.SIGNATURE_HEADER} names an unknown key id",
    "bad_signature": f"{signing.SIGNATURE_HEADER} does not match the body",
    "stale": f"{signing.SIGNATURE_HEADER} timestamp is more than {signing.TOLERANCE_SECONDS} s old",
    "version": f"{signing.SIGNATURE_HEADER} uses a signature version this endpoint does not accept",
    "future": f"{signing.SIGNATURE_HEADER} timestamp is more than {signing.TOLERANCE_SECONDS} s ahead",
}


class HeaderLookup(Protocol):
    """What is read from request headers: a dict in tests, werkzeug's Headers in Flask."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class Caller:
    kind: str  # BROWSER or SERVER
    kid: str
    origin: str | None = None


@dataclass(frozen=True)
class WebAuth:
    source: str
    origins: tuple[str, ...]
    token_keys: signing.Keyset
    signing_keys: signing.Keyset
    token_ttl: int
    signature_versions: tuple[str, ...] = signing.SIGNATURE_VERSIONS

    def origin_allowed(self, origin: str | None) -> str | None:
        """The normalised origin when it is on the allow-list, else None."""
        if not origin:
            return None
        normalized = signing.normalize_origin(origin)
        return normalized if normalized in self.origins else None

    def authenticate(
        self, headers: HeaderLookup, body: bytes, method: str = "POST", path: str = ""
    ) -> Caller:
        authorization = headers.get("Authorization")
        signature = headers.get(signing.SIGNATURE_HEADER)
        if authorization is not None:
            return self._browser(authorization, headers.get("Origin"))
        if signature is not None:
            return self.server(signature, body, method, path)
        raise AuthError(
            "no credentials; browsers send Authorization: Bearer <token>, servers send "
            f"{signing.SIGNATURE_HEADER}",
            headers={"WWW-Authenticate": 'Bearer realm="sgtm-events"'},
        )

    def server(
        self,
        signature: str | None,
        body: bytes,
        method: str,
        path: str,
        versions: tuple[str, ...] | None = None,
    ) -> Caller:
        """A server's request signature over this request (``versions``: those accepted,
        by default the configured ones)."""
        accepted = versions if versions is not None else self.signature_versions
        check = signing.verify_request(
            self.signing_keys, signature, body, method=method, path=path, versions=accepted
        )
        if not check.ok or check.kid is None:
            message = _SIGNATURE_MESSAGES[check.reason or "malformed"]
            if check.reason == "version":
                message += f" (accepted here: {', '.join(accepted)})"
            raise AuthError(message)
        return Caller(SERVER, check.kid)

    def _browser(self, authorization: str, origin: str | None) -> Caller:
        if not origin:
            raise ForbiddenError("browser requests must carry an Origin header")
        allowed = self.origin_allowed(origin)
        if allowed is None:
            raise ForbiddenError("this Origin is not on the web source's allow-list")
        token = signing.token_from_authorization(authorization)
        if token is None:
            raise AuthError(
                "Authorization must be 'Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="sgtm-events"'},
            )
        check = signing.verify_token(self.token_keys, token, allowed, max_lifetime=self.token_ttl)
        if check.reason == "wrong_origin":
            raise ForbiddenError("the browser token was issued for another origin")
        if not check.ok or check.kid is None:
            raise AuthError(
                _TOKEN_MESSAGES[check.reason or "malformed"],
                headers={"WWW-Authenticate": 'Bearer realm="sgtm-events", error="invalid_token"'},
            )
        return Caller(BROWSER, check.kid, allowed)


def request_kid(headers: HeaderLookup) -> str | None:
    """The key id a request claims, unverified: only the rate limiter's bucket name."""
    token = signing.token_from_authorization(headers.get("Authorization"))
    if token is not None:
        parts = token.split(".")
        return f"token:{parts[1][:64]}" if len(parts) == 4 else None
    signature = headers.get(signing.SIGNATURE_HEADER) or ""
    for item in signature.split(","):
        name, _, value = item.strip().partition("=")
        if name == "kid" and value:
            return f"sig:{value[:64]}"
    return None


def web_source(plan: Plan) -> Source | None:
    return next((s for s in plan.sources.values() if s.kind == "web"), None)


def load_web_auth(
    plan: Plan,
    secrets: Mapping[str, str],
    signature_versions: tuple[str, ...] = signing.SIGNATURE_VERSIONS,
) -> WebAuth | None:
    """The web source's auth settings, or None when the plan has no web source."""
    source = web_source(plan)
    if source is None:
        return None
    keysets: dict[str, signing.Keyset] = {}
    for role in ("token_keys", "signing_keys"):
        ref = source.secrets.get(role)
        if ref is None:
            raise StartupError(f"sources.{source.name}.{role}: the web source needs a keyset")
        try:
            # Verification tries every key, so which one is active does not matter here.
            keysets[role] = signing.parse_keyset(secrets.get(ref.env), source=ref.env)
        except signing.KeysetError as exc:
            raise StartupError(f"{exc} (named by {ref.where})") from None
    origins = []
    for origin in source.settings.get("origins", []):
        normalized = signing.normalize_origin(str(origin))
        if normalized is None:
            raise StartupError(f"sources.{source.name}.origins: {origin!r} is not an origin")
        origins.append(normalized)
    return WebAuth(
        source=source.name,
        origins=tuple(origins),
        token_keys=keysets["token_keys"],
        signing_keys=keysets["signing_keys"],
        token_ttl=int(
            source.settings.get("token_ttl_seconds", SOURCE_DEFAULTS["web"]["token_ttl_seconds"])
        ),
        signature_versions=signature_versions,
    )
