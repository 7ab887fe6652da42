"""Pub/Sub push to POST /v1/deliver, for real: the emulator pushes to the sidecar app served on
127.0.0.1, which delivers to the sGTM stand-in and answers 204 (ack) or 503 (redeliver)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from werkzeug.serving import make_server

from formats import signing
from sidecar.app import create_app
from sidecar.config import Config
from tests.conftest import EXAMPLE_PLAN, free_port
from tests.conftest_emulators import emulator
from tests.sidecar.conftest import Api, envelope, make_env

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(120)]
PUSH_TOKEN = "push-token-for-emulator-tests"


@pytest.fixture
def served(monkeypatch, httpserver, sgtm):
    from sidecar.store.gcp import GcpStore

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
    env = make_env()
    env["SGTM_PUSH_TOKEN"] = PUSH_TOKEN
    store = GcpStore(project=f"push-{uuid.uuid4().hex[:10]}", topic="outbox", subscription="push")
    sgtm.keyset = signing.parse_keyset(env["SGTM_DELIVERY_KEYS"], source="test")
    sgtm.clock = time.time
    config = Config(
        plan_path=str(EXAMPLE_PLAN),
        backend="gcp",
        environ=env,
        store=store,
        collect_url=httpserver.url_for("/s2s/events"),
        rate_limits=False,
    )
    app = create_app(config)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    store.ensure_topology(push_endpoint=f"http://127.0.0.1:{port}/v1/deliver?token={PUSH_TOKEN}")
    yield app, env, store
    server.shutdown()
    store.close()


def _wait(predicate, timeout=45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_push_delivers_every_destination_and_retries_the_failed_one(served, sgtm):
    app, env, store = served
    sgtm.script["meta"] = lambda _e, n: "failure" if n == 1 else "success"
    answer = Api(app.test_client(), env).signed(
        envelope("push-1", timestamp=int(time.time() * 1000))
    )
    assert answer.status_code == 200
    dests = set(store.ledger("push-1").destinations)
    assert "meta" in dests
    # The first push delivers all but meta (503: Pub/Sub redelivers); a later push sends meta.
    assert _wait(lambda: store.ledger("push-1").status == "delivered"), store.ledger("push-1")
    assert {d for d, e in sgtm.delivered if e == "push-1"} == dests
    assert sgtm.seen[("meta", "push-1")] == 2
    assert all(sgtm.seen[(d, "push-1")] == 1 for d in dests - {"meta"})


def test_app_opens_the_gcp_store_with_the_plans_retention(monkeypatch, tmp_path):
    from formats.plan import load_plan

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
    env = make_env()
    env["GOOGLE_CLOUD_PROJECT"] = f"retention-{uuid.uuid4().hex[:10]}"
    app = create_app(Config(plan_path=str(EXAMPLE_PLAN), backend="gcp", environ=env))
    store = app.extensions["sgtm"].store
    try:
        # Firestore's TTL policies delete by expire_at, which the store derives from this.
        assert store.retention_s == load_plan(EXAMPLE_PLAN).retention_days * 86400
    finally:
        store.close()
