"""Webhook tests: the real app on a real SQLite outbox in tmp_path, signed like the platforms
sign, with the plan edited per test where a setting matters."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from formats import signing
from sidecar.api.webhooks import state
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.store.sqlite import SqliteStore
from sidecar.verification import webhook_signatures as sig
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import ORIGIN, make_env, outbox_rows

FIXTURES = Path(__file__).parent / "fixtures"

__all__ = ["FIXTURES", "ORIGIN", "outbox_rows"]


class Clock:
    def __init__(self, now: float = 1_718_193_807.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def load_fixture(platform: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / platform / f"{name}.input.json").read_text(encoding="utf-8"))


class Shop:
    """Sends webhooks the way Shopify, WooCommerce and Stripe do, and contexts like a browser."""

    def __init__(self, client: Any, env: dict[str, str], clock: Clock) -> None:
        self.client = client
        self.env = env
        self.clock = clock
        self.token_keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="test")
        self.signing_keys = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="test")

    def stats(self) -> Any:
        """``GET /v1/stats`` as a server signs it (version 2: method and path covered)."""
        header = signing.sign_request_v2(self.signing_keys, "GET", "/v1/stats", b"")
        return self.client.get("/v1/stats", headers={signing.SIGNATURE_HEADER: header})

    def shopify(self, topic: str, payload: Any, *, webhook_id: str = "wh-1", raw=None, secret=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        key = secret or self.env["SHOPIFY_WEBHOOK_SECRET"]
        return self.client.post(
            "/v1/webhooks/shopify",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": sig.base64_hmac(key, body),
            },
        )

    def woocommerce(self, topic: str, payload: Any, *, raw=None, secret=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        key = secret or self.env["WOOCOMMERCE_WEBHOOK_SECRET"]
        return self.client.post(
            "/v1/webhooks/woocommerce",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Delivery-ID": "changes-every-try",
                "X-WC-Webhook-Signature": sig.base64_hmac(key, body),
            },
        )

    def stripe(self, payload: Any, *, raw=None, secret=None, t: int | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        key = secret or self.env["STRIPE_WEBHOOK_SECRET"]
        stamp = int(self.clock()) if t is None else t
        return self.client.post(
            "/v1/webhooks/stripe",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sig.stripe_header(key, stamp, body),
            },
        )

    def context(self, body: Any, *, origin: str = ORIGIN, token: str | None = None):
        bearer = token or signing.issue_token(self.token_keys, origin, 900)
        return self.client.post(
            "/v1/context",
            data=json.dumps(body),
            headers={
                "Content-Type": "application/json",
                "Origin": origin,
                "Authorization": f"Bearer {bearer}",
                "User-Agent": "Mozilla/5.0 checkout-browser",
            },
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_shop(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., tuple[Shop, SqliteStore]]]:
    """Build an app on the example plan, with ``edit(text) -> text`` applied to the plan."""
    opened: list[SqliteStore] = []

    def build(
        edit: Callable[[str], str] | None = None, env: dict[str, str] | None = None
    ) -> tuple[Shop, SqliteStore]:
        # Meta's 50 % rollout would make which test client ids reach it a matter of hashing.
        text = EXAMPLE_PLAN.read_text(encoding="utf-8").replace("rollout: 50", "rollout: 100")
        if edit is not None:
            edited = edit(text)
            assert edited != text, "the plan edit changed nothing"
            text = edited
        n = len(opened)
        plan = tmp_path / f"plan{n}.yaml"
        plan.write_text(text, encoding="utf-8")
        store = SqliteStore(tmp_path / f"outbox{n}.sqlite", synchronous="NORMAL", clock=clock)
        config_log = io.StringIO()
        opened.append(store)
        env = {**make_env(), **(env or {})}
        app = create_app(
            Config(
                plan_path=str(plan),
                environ=env,
                store=store,
                log_stream=config_log,
                rate_limits=False,
            )
        )
        state(app).clock = clock
        shop = Shop(app.test_client(), env, clock)
        shop.log = config_log  # type: ignore[attr-defined]
        return shop, store

    yield build
    for store in opened:
        store.close()


@pytest.fixture
def shop(make_shop) -> Shop:
    return make_shop()[0]


@pytest.fixture
def shop_store(make_shop) -> tuple[Shop, SqliteStore]:
    return make_shop()
