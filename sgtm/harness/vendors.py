"""The vendor side of a local run: one capture server that plays every destination's host, the
host -> destination routing the local sGTM runtime uses, and the sGTM key file of a local run."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from formats.plan.model import Plan


@dataclass
class Captured:
    destination: str
    method: str
    path: str
    body: Any
    at: float = 0.0  # wall-clock time it arrived


class CaptureServer:
    """One local HTTP server; each routed vendor host gets its own path prefix."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []  # answered 200: what the vendor accepted
        self.refused: list[Captured] = []  # answered with a scripted failure
        self.fail: dict[str, int] = {}  # destination -> status to answer (tests, the bench)
        self.delay_s: dict[str, float] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # ~40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                prefix, _, rest = self.path.lstrip("/").partition("/")
                path = "/" + rest.split("?", 1)[0]
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                if outer.delay_s.get(prefix):
                    time.sleep(outer.delay_s[prefix])
                status = outer.fail.get(prefix, 200)
                seen = Captured(prefix, self.command, path, body, time.time())
                with outer._lock:
                    (outer.requests if status == 200 else outer.refused).append(seen)
                answer = b'{"events_received": 1}' if status == 200 else b'{"error": "test"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def for_destination(self, name: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.destination == name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def local_key_file(plan: Plan, delivery_keyset: str) -> str:
    """The sGTM key file of a local run: the delivery keyset plus a throwaway key for every
    http destination's body signing key id (docs/destinations.md)."""
    keys = json.loads(delivery_keyset)
    for dest in plan.destinations.values():
        if dest.settings.get("signing_key_id"):
            secret = base64.b64encode(secrets.token_bytes(32)).decode()
            keys["keys"].setdefault(str(dest.settings["signing_key_id"]), secret)
    return json.dumps(keys)


def vendor_hosts(plan: Plan) -> dict[str, str]:
    """Host each destination's tag calls -> destination name (for --route)."""
    hosts: dict[str, str] = {}
    for name, dest in sorted(plan.destinations.items()):
        if dest.kind == "ga4":
            hosts["region1.google-analytics.com"] = name
            hosts["www.google-analytics.com"] = name
        elif dest.kind == "meta_capi":
            hosts["graph.facebook.com"] = name
        elif dest.kind == "google_ads":
            hosts["googleads.googleapis.com"] = name
        elif dest.kind == "http":
            host = urlsplit(str(dest.settings.get("url", ""))).hostname
            if host:
                hosts[host] = name
    return hosts
