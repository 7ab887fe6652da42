"""Fixtures for the sidecar's ingest path: a real SQLite outbox per test, real keysets in a
test environment (never os.environ), and helpers that sign requests the way callers do."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from formats import signing
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.store.sqlite import SqliteStore
from tests.conftest import EXAMPLE_PLAN

ORIGIN = "https://shop.acme-home.example"


def make_env() -> dict[str, str]:
    """Every secret the example plan names, with fresh random keysets."""
    return {
        "WEB_TOKEN_KEYS": signing.generate_keyset("tk1"),
        "WEB_SIGNING_KEYS": signing.generate_keyset("sk1"),
        "SHOPIFY_WEBHOOK_SECRET": "shpss-test-secret-0001",
        "WOOCOMMERCE_WEBHOOK_SECRET": "woo-test-secret-0002",
        "STRIPE_WEBHOOK_SECRET": "whsec-test-secret-0003",
        "GA4_API_SECRET": "ga4-test-secret-0004",
        "META_ACCESS_TOKEN": "meta-test-token-0005",
        "CRM_WEBHOOK_TOKEN": "crm-test-token-0006",
        "SGTM_DELIVERY_KEYS": signing.generate_keyset("dk1"),
    }


def envelope(event_id: str = "e-1", **overrides: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "schema": 1,
        "event_name": "purchase",
        "event_id": event_id,
        "timestamp": 1732870000000,
        "client_id": "1234567890.1732860000",
        "session_id": "1732860000",
        "user_id": "cust-42",
        "consent": {"analytics": True, "ads": True, "functional": True},
        "params": {
            "transaction_id": "1001",
            "value": 59.9,
            "currency": "EUR",
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95}],
        },
        "user_data": {"email": "Ana@Example.com", "phone": "+34 612 345 678"},
        "context": {
            "page_location": "https://shop.acme-home.example/checkout",
            "user_agent": "Mozilla/5.0 test",
            "ip": "203.0.113.7",
            "fbp": "fb.1.1732860000.123",
        },
    }
    env.update(overrides)
    return env


class Api:
    """Posts events the way the shop's servers (signature) and browsers (token) do."""

    def __init__(self, client: Any, env: dict[str, str]) -> None:
        self.client = client
        self.signing_keys = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="test")
        self.token_keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="test")

    def signed(self, body: Any, *, raw: bytes | None = None, headers: dict | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        hdrs = {
            "Content-Type": "application/json",
            signing.SIGNATURE_HEADER: signing.sign_request(self.signing_keys, data),
        }
        hdrs.update(headers or {})
        return self.client.post("/v1/events", data=data, headers=hdrs)

    def signed_get(self, path: str, *, headers: dict | None = None):
        """A GET signed by a server (version 2: method and path are covered)."""
        hdrs = {
            signing.SIGNATURE_HEADER: signing.sign_request_v2(self.signing_keys, "GET", path, b"")
        }
        hdrs.update(headers or {})
        return self.client.get(path, headers=hdrs)

    def token(self, origin: str = ORIGIN, ttl: int = 900) -> str:
        return signing.issue_token(self.token_keys, origin, ttl)

    def browser(self, body: Any, *, origin: str = ORIGIN, token: str | None = None, headers=None):
        hdrs = {
            "Content-Type": "application/json",
            "Origin": origin,
            "Authorization": f"Bearer {token or self.token()}",
            "User-Agent": "Mozilla/5.0 browser-test",
        }
        hdrs.update(headers or {})
        return self.client.post("/v1/events", data=json.dumps(body), headers=hdrs)


@pytest.fixture
def sidecar_env() -> dict[str, str]:
    return make_env()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "outbox.sqlite", synchronous="NORMAL")
    yield s
    s.close()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def config(tmp_path: Path, sidecar_env, store, log_stream) -> Config:
    return Config(
        plan_path=str(EXAMPLE_PLAN),
        outbox=str(tmp_path / "outbox.sqlite"),
        environ=sidecar_env,
        store=store,
        log_stream=log_stream,
        rate_limits=False,
    )


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client, sidecar_env) -> Api:
    return Api(client, sidecar_env)


def outbox_rows(store: SqliteStore) -> list[dict[str, Any]]:
    """What was actually stored: event rows with their envelope, decision and deliveries."""
    db = store._read()
    rows = db.execute(
        "SELECT event_id, envelope, decision, skipped FROM events ORDER BY event_id"
    ).fetchall()
    out = []
    for event_id, env, decision, skipped in rows:
        dests = [
            d
            for (d,) in db.execute(
                "SELECT destination FROM deliveries WHERE event_id = ? ORDER BY destination",
                (event_id,),
            )
        ]
        out.append(
            {
                "event_id": event_id,
                "envelope": json.loads(env),
                "decision": json.loads(decision),
                "skipped": bool(skipped),
                "deliveries": dests,
            }
        )
    return out


def now() -> int:
    return int(time.time())
