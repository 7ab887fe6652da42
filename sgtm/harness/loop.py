"""`LocalLoop`: the whole loop on one machine (plan -> generated container served by the local
sGTM runtime, vendor hosts routed to a capture server -> the sidecar on an in-process HTTP server
with a SQLite outbox -> the delivery worker), with throwaway secrets. The demo, the benchmarks and
the end-to-end tests drive it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgtm.harness.vendors import CaptureServer, local_key_file, vendor_hosts

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PLAN = REPO / "examples" / "shop" / "plan.yaml"
DELIVERY_KID = "delivery-1"  # the first key id the generated client accepts by default
ORIGIN_FALLBACK = "https://shop.example.com"


@dataclass
class LocalLoop:
    plan_path: str
    workdir: Path
    batch_size: int | None = None
    synchronous: str = "FULL"
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> LocalLoop:
        from formats.plan.loader import load_plan  # ruamel.yaml: not for `sgtm --help`
        from formats.signing import generate_keyset, parse_keyset
        from generator.render import generate
        from runtime.dev import serve
        from runtime.host import LOCAL_GOOGLE_TOKEN_ENV
        from sidecar.store.sqlite import SqliteStore

        self.plan = load_plan(self.plan_path)
        out = self.workdir / "generated"
        for rel, text in generate(self.plan).items():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.env = self._throwaway_secrets(generate_keyset)
        key_file = self.workdir / "sgtm-credentials.json"
        key_file.write_text(
            local_key_file(self.plan, self.env[self._delivery_var()]), encoding="utf-8"
        )
        os.chmod(key_file, 0o600)
        # What the tagging server would hold: the key file, the container's credential constants
        # (the runtime fills an empty constant from the variable of the same name) and, for
        # getGoogleAuth, a local access token. Restored when the loop closes.
        runtime_env = {"SGTM_CREDENTIALS": str(key_file), LOCAL_GOOGLE_TOKEN_ENV: "demo-token"}
        for dest in self.plan.destinations.values():
            runtime_env.update({ref.env: self.env[ref.env] for ref in dest.credentials.values()})
        self._saved_env = {k: os.environ.get(k) for k in runtime_env}
        os.environ.update(runtime_env)

        self.capture = CaptureServer()
        routes = {h: f"{self.capture.url}/{d}" for h, d in vendor_hosts(self.plan).items()}
        self.sgtm_log: list[str] = []
        self.sgtm = serve(
            out / "container.json", routes=routes, debug=True, log=self.sgtm_log.append
        ).start()
        self.collect_url = self.sgtm.url + self.plan.delivery.client_path

        self.store = SqliteStore(self.workdir / "outbox.sqlite", synchronous=self.synchronous)
        self._start_sidecar()
        self.signing = parse_keyset(self.env["WEB_SIGNING_KEYS"], source="demo")
        self.tokens = parse_keyset(self.env["WEB_TOKEN_KEYS"], source="demo")
        return self

    def _delivery_var(self) -> str:
        return self.plan.delivery.keys.env if self.plan.delivery.keys else "SGTM_DELIVERY_KEYS"

    def _throwaway_secrets(self, generate_keyset: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for ref in self.plan.secret_refs():
            name = ref.env
            if "KEYS" in name:  # keysets: token keys, signing keys, the delivery keyset
                env[name] = generate_keyset("k1")
            else:
                env[name] = "demo-" + secrets.token_urlsafe(24)
        env[self._delivery_var()] = generate_keyset(DELIVERY_KID)
        return env

    def _start_sidecar(self) -> None:
        from werkzeug.serving import make_server

        from sidecar.app import create_app
        from sidecar.config import Config

        config = Config(
            plan_path=self.plan_path,
            outbox=str(self.workdir / "outbox.sqlite"),
            collect_url=self.collect_url,
            environ=dict(self.env),
            store=self.store,
            rate_limits=False,
            log_stream=io.StringIO(),  # the demo prints its own summary
            log_level="ERROR",
        )
        self.app = create_app(config)
        self.http = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_quiet_handler()
        )
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def worker(self, **kw: Any) -> Any:
        from sidecar.delivery.runner import build_worker

        env = {**self.env, "SGTM_PLAN": self.plan_path, "SGTM_COLLECT_URL": self.collect_url}
        if self.batch_size:
            kw.setdefault("batch_size", self.batch_size)
        return build_worker(env, store=self.store, **kw)

    # -- what a shop sends ------------------------------------------------------------------

    def origin(self) -> str:
        for source in self.plan.sources.values():
            origins = source.settings.get("allowed_origins") or source.settings.get("origins")
            if source.kind == "web" and origins:
                return str(origins[0])
        return ORIGIN_FALLBACK

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        # self.url is our own http://127.0.0.1 server: no other scheme can reach here.
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def browser(self, path: str, doc: Any) -> tuple[int, Any]:
        from formats.signing import issue_token

        origin = self.origin()
        token = issue_token(self.tokens, origin, 900)
        return self.post(
            path,
            json.dumps(doc).encode(),
            {
                "Content-Type": "application/json",
                "Origin": origin,
                "Authorization": f"Bearer {token}",
                "User-Agent": "Mozilla/5.0 (demo browser)",
            },
        )

    def server(self, doc: Any) -> tuple[int, Any]:
        from formats.signing import SIGNATURE_HEADER, sign_request_v2

        body = json.dumps(doc).encode()
        return self.post(
            "/v1/events",
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_request_v2(self.signing, "POST", "/v1/events", body),
            },
        )

    def shopify(self, order: dict[str, Any], topic: str = "orders/paid") -> tuple[int, Any]:
        body = json.dumps(order).encode()
        secret = next(
            (
                self.env[r.env]
                for s in self.plan.sources.values()
                if s.kind == "shopify"
                for r in s.secrets.values()
            ),
            "",
        )
        mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return self.post(
            "/v1/webhooks/shopify",
            body,
            {
                "Content-Type": "application/json",
                "X-Shopify-Hmac-Sha256": mac,
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": f"wh-{order['id']}",
                "X-Shopify-Shop-Domain": "acme-home.myshopify.com",
            },
        )

    def deliver(self, worker: Any = None) -> Any:
        """Run the worker until nothing is due now (retries scheduled later are left queued)."""
        worker = worker or self.worker()
        worker.start()
        while worker.run_once():
            pass
        return worker

    def close(self) -> None:
        # Only what start() got to: a plan that does not load leaves nothing running.
        for part, method in (
            ("http", "shutdown"),
            ("sgtm", "close"),
            ("capture", "close"),
            ("store", "close"),
        ):
            if not hasattr(self, part):
                continue
            try:
                getattr(getattr(self, part), method)()
            except Exception:  # noqa: BLE001, S112 - best effort on the way out
                continue
        # The throwaway delivery key never outlives the run, even with --keep.
        (self.workdir / "sgtm-credentials.json").unlink(missing_ok=True)
        for k, v in getattr(self, "_saved_env", {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _quiet_handler() -> type:
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, *_args: Any, **_kw: Any) -> None:
            return

    return Quiet
