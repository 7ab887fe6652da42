"""What outlives one template run: routes for outbound HTTP, credentials, template storage and
the in-memory stand-ins for BigQuery and Firestore.

One ``Environment`` serves a whole ``sgtm dev`` server (or one ``sgtm templates test`` file),
so ``templateDataStorage`` and Firestore documents persist across runs the way they do on one
sGTM instance.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CREDENTIALS_ENV = "SGTM_CREDENTIALS"


class OutboundError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason  # 'failed' or 'timed_out', as the sandbox reports it
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: str


def parse_route(text: str) -> tuple[str, str]:
    """``HOST=http://127.0.0.1:PORT`` -> (host, base URL); ValueError names what is wrong."""
    host, sep, base = text.partition("=")
    host = host.strip().lower()
    if not sep or not host or not base:
        raise ValueError(f"--route {text!r}: expected HOST=http://127.0.0.1:PORT")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--route {text!r}: the target must be an http(s) URL, got {base!r}")
    return host, base.rstrip("/")


@dataclass
class Environment:
    routes: dict[str, str] = field(default_factory=dict)
    debug: bool = False
    container_id: str = "GTM-LOCAL"
    container_version: str = "0"
    environment_name: str = "local"
    storage: dict[str, dict[str, Any]] = field(default_factory=dict)
    bigquery: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    firestore: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_sink: Any = None  # callable(str) for tag logs (the dev server's stderr in debug mode)
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: int = 0

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    # -- outbound HTTP --------------------------------------------------------------------
    def route(self, url: str) -> str | None:
        """The URL to actually fetch, or None when no ``--route`` covers the host."""
        parts = urlsplit(url)
        base = self.routes.get((parts.hostname or "").lower())
        if base is None:
            return None
        target = urlsplit(base)
        path = target.path.rstrip("/") + (parts.path or "/")
        return urlunsplit((target.scheme, target.netloc, path, parts.query, ""))

    def fetch(
        self, url: str, method: str, headers: dict[str, str], body: str | None, timeout: float
    ) -> Future[HttpResult]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sgtm-http")
        return self._pool.submit(self._fetch, url, method, headers, body, timeout)

    def _fetch(
        self, url: str, method: str, headers: dict[str, str], body: str | None, timeout: float
    ) -> HttpResult:
        target = self.route(url)
        host = urlsplit(url).hostname or ""
        if target is None:
            raise OutboundError(
                "failed",
                f"no --route for host {host!r}: the local runtime only sends requests to routed "
                "stand-ins",
            )
        data = body.encode("utf-8") if body is not None else None
        req = urllib.request.Request(target, data=data, method=method.upper())  # noqa: S310
        for name, value in headers.items():
            req.add_header(name, str(value))
        req.add_header("X-Sgtm-Original-Host", host)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                return HttpResult(resp.status, _headers(resp.headers), _text(resp.read()))
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, _headers(exc.headers), _text(exc.read()))
        except TimeoutError as exc:
            raise OutboundError("timed_out", f"{host}: {exc}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise OutboundError("timed_out", f"{host}: {exc.reason}") from None
            raise OutboundError("failed", f"{host}: {exc.reason}") from None
        except OSError as exc:
            raise OutboundError("failed", f"{host}: {exc}") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- credentials --------------------------------------------------------------------------
    @staticmethod
    def hmac_key(key_id: str) -> bytes:
        path = os.environ.get(CREDENTIALS_ENV)
        if not path:
            raise LookupError(f"hmacSha256: environment variable {CREDENTIALS_ENV} is not set")
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as exc:
            raise LookupError(
                f"hmacSha256: cannot read {CREDENTIALS_ENV} file: {exc.strerror}"
            ) from None
        except json.JSONDecodeError as exc:
            raise LookupError(
                f"hmacSha256: {CREDENTIALS_ENV} file is not JSON (line {exc.lineno})"
            ) from None
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, dict):
            raise LookupError(f'hmacSha256: {CREDENTIALS_ENV} file needs {{"keys": {{...}}}}')
        if key_id not in keys:
            raise LookupError(f"hmacSha256: key id {key_id!r} is not in the {CREDENTIALS_ENV} file")
        try:
            return base64.b64decode(str(keys[key_id]), validate=True)
        except (binascii.Error, ValueError):
            raise LookupError(f"hmacSha256: key {key_id!r} is not valid base64") from None


def _headers(msg: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in msg.items()} if msg is not None else {}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")
