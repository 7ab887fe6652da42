from __future__ import annotations

import uuid

import pytest

from sidecar.store.sqlite import SqliteStore


@pytest.fixture
def sqlite_store(tmp_path):
    store = SqliteStore(tmp_path / "outbox.sqlite")
    yield store
    store.close()


@pytest.fixture
def gcp_store(monkeypatch):
    from tests.conftest_emulators import emulator

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
    from sidecar.store.gcp import GcpStore

    project = f"test-{uuid.uuid4().hex[:12]}"  # a fresh project per test: no shared state
    store = GcpStore(project=project, topic="outbox", subscription="outbox-pull", retention_days=30)
    store.ensure_topology()
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("gcp", marks=pytest.mark.emulator)])
def any_store(request):
    """The same tests on both backends (the gcp one on the official emulators)."""
    return request.getfixturevalue(f"{request.param}_store")
