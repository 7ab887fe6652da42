"""The same worker pulling from Pub/Sub with Firestore state (the emulators)."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from sidecar.delivery.transport import HttpTransport
from sidecar.delivery.worker import Worker
from tests.conftest_emulators import emulator
from tests.store.conftest import make_record

pytestmark = pytest.mark.emulator


@pytest.fixture
def gcp(monkeypatch):
    from sidecar.store.gcp import GcpStore

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
    store = GcpStore(project=f"w-{uuid.uuid4().hex[:12]}", topic="outbox", subscription="pull")
    store.ensure_topology()
    yield store
    store.close()


def test_pull_worker_delivers_retries_alone_and_acks(gcp, sgtm, httpserver, keyset, policy):
    sgtm.clock = time.time
    sgtm.script["meta"] = lambda _e, n: "failure" if n == 1 else "success"
    now = time.time()
    gcp.enqueue([make_record(f"e{i}", accepted_at=now) for i in range(5)], 3600)
    transport = HttpTransport(httpserver.url_for("/s2s/events"), timeout_s=5)
    # Short backoff so the failed destination comes back within the test (real clock here:
    # Pub/Sub's redelivery is real time).
    from dataclasses import replace

    worker = Worker(
        gcp,
        keyset,
        replace(policy, base_s=0.2, max_s=0.5),
        transport,
        rng=random.Random(3),
        idle_poll_s=0.1,
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(sgtm.delivered) < 10:
        worker.run_once() or time.sleep(0.1)
    transport.close()
    assert len(sgtm.delivered) == 10 and set(sgtm.delivered.values()) == {1}
    assert all(sgtm.seen[("ga4", f"e{i}")] == 1 for i in range(5))
    assert all(sgtm.seen[("meta", f"e{i}")] == 2 for i in range(5))
    assert gcp.counts() == {"succeeded": 10}
    assert gcp.ledger("e0").destinations["meta"].attempts == 2
