"""Webhooks through the real server (`sgtm serve`, gunicorn with several workers): the same
Shopify delivery sent concurrently to different workers lands once, and the browser context
posted through one worker is joined by another."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from formats import signing
from sidecar.store.sqlite import SqliteStore
from sidecar.verification.webhook_signatures import base64_hmac
from tests.sidecar.conftest import ORIGIN, outbox_rows
from tests.sidecar.test_gunicorn import server  # noqa: F401 - the fixture
from tests.webhooks.conftest import load_fixture

pytestmark = pytest.mark.slow


def test_concurrent_redeliveries_through_several_workers_are_one_purchase(server, tmp_path):  # noqa: F811
    base, proc, env, log = server
    token_keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="test")
    context = requests.post(
        f"{base}/v1/context",
        json={
            "token": "7df6264faff82e3bdf73d0ba225dd00e",
            "client_id": "555000111.1718190000",
            "session_id": "1718190000",
            "consent": {"analytics": True, "ads": False, "functional": True},
        },
        headers={
            "Origin": ORIGIN,
            "Authorization": f"Bearer {signing.issue_token(token_keys, ORIGIN, 900)}",
        },
        timeout=10,
    )
    assert context.status_code == 200, context.text
    body = json.dumps(load_fixture("shopify", "paid_basic")["payload"]).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Hmac-Sha256": base64_hmac(env["SHOPIFY_WEBHOOK_SECRET"], body),
    }

    def deliver(_: int) -> dict:
        answer = requests.post(
            f"{base}/v1/webhooks/shopify", data=body, headers=headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(deliver, range(6)))
    assert sorted(a["status"] for a in answers) == ["accepted"] + ["duplicate"] * 5
    store = SqliteStore(env["SGTM_OUTBOX"])
    try:
        rows = outbox_rows(store)
    finally:
        store.close()
    assert [r["event_id"] for r in rows] == ["shopify-5678901234567-purchase"]
    assert rows[0]["envelope"]["client_id"] == "555000111.1718190000"
    assert rows[0]["deliveries"] == ["crm", "ga4", "warehouse"]  # ads denied in the context
    unsigned = requests.post(f"{base}/v1/webhooks/shopify", data=body, timeout=10)
    assert unsigned.status_code == 401
