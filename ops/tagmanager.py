"""Tag Manager API v2 client: building it, pacing requests, retrying the retryable.

The API allows 0.25 requests/s per project (25 per 100 s sliding window) and answers excess
with 403 ``rateLimitExceeded`` / ``userRateLimitExceeded`` or 429. We pace every request
(retries included) so a long push stays under the quota instead of bouncing off it, and we
retry 429, rate-limit 403s, 5xx and dropped connections with exponential backoff. Other
errors are not retried: a 400 will not get better by asking again.

``sleep`` and ``clock`` are injectable so tests run at full speed with the same code paths.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from googleapiclient.errors import HttpError

SCOPES = (
    "https://www.googleapis.com/auth/tagmanager.edit.containers",
    "https://www.googleapis.com/auth/tagmanager.edit.containerversions",
    "https://www.googleapis.com/auth/tagmanager.publish",
)
ENDPOINT_ENV = "SGTM_TAGMANAGER_ENDPOINT"
DEFAULT_QPS = 0.25
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ApiError(RuntimeError):
    """A request that failed for good; the message says what we were doing and what the API said."""

    def __init__(self, what: str, status: int | None, message: str) -> None:
        self.what = what
        self.status = status
        self.api_message = message
        prefix = f"HTTP {status}" if status else "no response"
        super().__init__(f"{what}: {prefix}: {message}")


def build_service(endpoint: str | None = None, key_file: str | None = None) -> Any:
    """A tagmanager v2 client from the bundled discovery document (no network to build it).

    Credentials: a service-account key file when given, else Application Default Credentials.
    ``endpoint`` (or $SGTM_TAGMANAGER_ENDPOINT) points the client elsewhere; a loopback
    endpoint is a local fake and gets anonymous credentials - a testing aid, nothing more.
    """
    import httplib2
    from google_auth_httplib2 import AuthorizedHttp
    from googleapiclient.discovery import build

    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    if key_file:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            key_file, scopes=list(SCOPES)
        )
    elif endpoint and urlparse(endpoint).hostname in _LOOPBACK:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    else:
        import google.auth

        credentials, _ = google.auth.default(scopes=list(SCOPES))
    http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=60))
    options = {"api_endpoint": endpoint} if endpoint else None
    return build(
        "tagmanager",
        "v2",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 2.0
    max_delay: float = 64.0


class Pacer:
    """Spaces calls at least ``1/qps`` seconds apart."""

    def __init__(
        self,
        qps: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self.interval = 1.0 / qps
        self.sleep = sleep
        self.clock = clock
        self._next: float | None = None

    def wait(self) -> None:
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def error_details(exc: HttpError) -> tuple[int, str, set[str]]:
    """(status, message, reasons) from an API error response."""
    status = int(getattr(exc.resp, "status", 0) or 0)
    message, reasons = "", set()
    try:
        err = json.loads(exc.content.decode("utf-8", "replace")).get("error", {})
    except (ValueError, AttributeError):
        err = {}
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        for item in err.get("errors") or []:
            if isinstance(item, dict) and item.get("reason"):
                reasons.add(str(item["reason"]))
        for item in err.get("details") or []:
            if isinstance(item, dict) and item.get("reason"):
                reasons.add(str(item["reason"]))
    return status, message or (exc.reason or "").strip() or "no error message", reasons


class Api:
    """Executes googleapiclient requests: paced, retried, counted."""

    def __init__(
        self,
        service: Any,
        qps: float = DEFAULT_QPS,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.service = service
        self.pacer = Pacer(qps, sleep, clock)
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.log = log
        self.requests = 0
        self.retries = 0

    @property
    def workspaces(self) -> Any:
        return self.service.accounts().containers().workspaces()

    def call(
        self,
        request: Any,
        what: str,
        recover: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """Run ``request``; ``recover`` is asked after a 5xx or lost connection, before the next
        attempt, whether the write already happened (so a create is not repeated)."""
        # Imported here, not at import: `sgtm --help` and the other commands need no Google client.
        import httplib2
        from googleapiclient.errors import HttpError

        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait()
            self.requests += 1
            rejected = False  # True when the API refused before doing anything (rate limit)
            retry_after: float | None = None
            try:
                return request.execute(num_retries=0) or {}
            except HttpError as exc:
                status, message, reasons = error_details(exc)
                rate_limited = status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS)
                if not (rate_limited or status >= 500):
                    raise ApiError(what, status, message) from None
                rejected = bool(rate_limited)
                retry_after = _retry_after(exc)
                failure = f"HTTP {status} {message}"
            except (OSError, httplib2.HttpLib2Error) as exc:
                status, failure = None, f"connection failed ({type(exc).__name__})"
            if attempt >= self.policy.max_attempts:
                raise ApiError(what, status, f"gave up after {attempt} attempts: {failure}")
            delay = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
            if retry_after is not None:
                delay = max(delay, retry_after)
            self.retries += 1
            self.log(f"  retrying {what} in {delay:.0f}s ({failure})")
            self.sleep(delay)
            if recover is not None and not rejected:
                found = recover()
                if found is not None:
                    self.log(f"  {what}: already done by the interrupted attempt")
                    return found

    def list_all(self, collection: Any, parent: str, key: str, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs = {"parent": parent}
            if token:
                kwargs["pageToken"] = token
            page = self.call(collection.list(**kwargs), what)
            items.extend(page.get(key) or [])
            token = page.get("nextPageToken")
            if not token:
                return items


def _retry_after(exc: HttpError) -> float | None:
    value = getattr(exc.resp, "get", lambda _k: None)("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
