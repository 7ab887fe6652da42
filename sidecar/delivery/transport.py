"""POST to sGTM over one kept-alive HTTP(S) connection; failures become values, not tracebacks."""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    elapsed_s: float = 0.0


class TransportError(Exception):
    """sGTM could not be reached or did not answer in time (the breaker counts these).

    ``maybe_processed``: the request may have reached sGTM, whose tags may still be running it
    (a timeout, a dropped connection). A retry must wait for that run to settle, or a
    destination could receive the event again after the retry was acknowledged.
    """

    def __init__(self, message: str, maybe_processed: bool = True) -> None:
        super().__init__(message)
        self.maybe_processed = maybe_processed


class HttpTransport:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"SGTM_COLLECT_URL: {url!r} is not an http(s) URL "
                "(e.g. https://collect.example.com/s2s/events)"
            )
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout_s
        # Past the timeout, sGTM is probably still running the batch: an answer that comes
        # within this grace is still read and recorded (the worker sets it to its settle
        # time). Giving up at the timeout and resending made every destination receive a
        # slow batch again: duplicates where the answer was merely late.
        self.grace_s = 0.0
        self._conn: http.client.HTTPConnection | None = None

    @property
    def timeout_s(self) -> float:
        return self._timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._timeout + self.grace_s,
                    context=ssl.create_default_context(),
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout + self.grace_s
                )
        return self._conn

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        # One retry on a stale kept-alive connection (the server closed it while idle); a second
        # failure is the server's.
        for fresh in (False, True):
            conn = self._connection()
            started = time.monotonic()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = Response(
                    resp.status,
                    {k.lower(): v for k, v in resp.getheaders()},
                    data,
                    time.monotonic() - started,
                )
                if (resp.getheader("connection") or "").lower() == "close":
                    self.close()
                return out
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if fresh:
                    raise TransportError(f"connection to {self._host} dropped: {exc}") from exc
            except TimeoutError as exc:
                self.close()
                raise TransportError(
                    f"no answer from {self._host} within {self._timeout + self.grace_s:g} s"
                ) from exc
            except ConnectionRefusedError as exc:
                self.close()
                raise TransportError(f"cannot reach {self._host}: {exc}", False) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(f"cannot reach {self._host}: {exc}") from exc
        raise TransportError(f"cannot reach {self._host}")  # pragma: no cover

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
