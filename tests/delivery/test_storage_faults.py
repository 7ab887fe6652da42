"""Storage that tells the truth, with real processes: the sidecar under gunicorn on a SQLite
outbox whose directory or file is removed or replaced while it runs, or is unusable at start.

An event is answered 2xx only once it is durable in the live outbox: after the directory is
deleted or the file replaced, every write answers 503 with Retry-After (the connection would
otherwise keep committing into an unlinked inode nobody reads: 40 of 40 acknowledged events
vanished that way before). /readyz names the failing check without a path, and the fault is
logged once per state change, with its cause.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import EXAMPLE_PLAN
from tests.delivery.stack import Stack, event

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def data_stack(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = Stack(tmp_path, "http://127.0.0.1:9/s2s/events", outbox=data / "outbox.sqlite")
    s.data = data
    s.start_sidecar()
    yield s
    s.stop()


def _records(stack: Stack, kind: str) -> list[dict]:
    out = []
    for line in (stack.tmp / "sidecar.log").read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("type") == kind:
            out.append(doc)
    return out


def _after_fault(stack: Stack, prefix: str) -> None:
    statuses = []
    for i in range(12):
        status, answer, headers = stack.post_once(event(f"{prefix}-after-{i}"))
        statuses.append(status)
        if status == 503:
            assert headers.get("Retry-After") == "5"
            assert answer["error"]["code"] == "unavailable"
    assert statuses == [503] * 12, statuses  # never a 2xx for what is not durable
    status, ready = stack.get("/readyz")
    assert status == 503
    assert "outbox_file" in ready["failing"]
    text = json.dumps(ready)
    assert str(stack.tmp) not in text  # readiness is public: no paths
    # Logged once per state change and process (2 gunicorn workers), not once per request.
    faults = _records(stack, "storage_fault")
    assert 1 <= len(faults) <= 2, faults
    assert all("cause" in f and f["cause"] for f in faults)


def test_data_directory_deleted_while_running(data_stack):
    before = data_stack.post([event(f"del-{i}") for i in range(10)])
    assert {r["status"] for r in before["results"]} == {"accepted"}
    shutil.rmtree(data_stack.data)
    _after_fault(data_stack, "del")
    assert not data_stack.data.exists()  # nothing silently created a fresh empty outbox
    assert any("gone" in f["cause"] for f in _records(data_stack, "storage_fault"))


def test_outbox_file_replaced_while_running(data_stack):
    before = data_stack.post([event(f"rep-{i}") for i in range(10)])
    assert {r["status"] for r in before["results"]} == {"accepted"}
    path = data_stack.data / "outbox.sqlite"
    shutil.copyfile(path, data_stack.data / "restored.sqlite")
    os.replace(data_stack.data / "restored.sqlite", path)  # a restore over the live file
    _after_fault(data_stack, "rep")
    assert any("replaced" in f["cause"] for f in _records(data_stack, "storage_fault"))


def test_free_space_threshold_fails_readiness(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = Stack(tmp_path, "http://127.0.0.1:9/s2s/events", outbox=data / "outbox.sqlite")
    s.env["SGTM_MIN_FREE_MB"] = str(2**40)  # more than this disk has: the real check fails
    s.sidecar.start()
    try:
        deadline = time.monotonic() + 30
        status, ready = 0, {}
        while time.monotonic() < deadline:
            try:
                status, ready = s.get("/readyz")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 503
        assert ready["failing"] == ["outbox_free_space"]
        assert "MiB free, below" in ready["checks"]["outbox_free_space"]
    finally:
        s.stop()


def test_corrupt_outbox_fails_readiness_on_integrity(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = Stack(tmp_path, "http://127.0.0.1:9/s2s/events", outbox=data / "outbox.sqlite")
    s.start_sidecar()
    for n in range(3):
        s.post([event(f"cor-{n}-{i}") for i in range(100)])
    s.stop()
    path = data / "outbox.sqlite"
    size = path.stat().st_size
    assert size > 16 * 4096
    with open(path, "r+b") as f:  # a torn write over data pages, the header left intact
        f.seek(8 * 4096)
        f.write(os.urandom(6 * 4096))
    s.sidecar.start()
    try:
        deadline = time.monotonic() + 30
        status, ready = 0, {}
        while time.monotonic() < deadline:
            try:
                status, ready = s.get("/readyz")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 503, ready
        assert "outbox_integrity" in ready["failing"]
    finally:
        s.stop()


def _serve(env: dict, outbox: str) -> subprocess.CompletedProcess:
    env = {**env, "SGTM_OUTBOX": outbox}
    return subprocess.run(
        [sys.executable, "-m", "sgtm.cli", "serve", str(EXAMPLE_PLAN), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_data_directory_at_start_is_one_line_and_exit_1(tmp_path):
    s = Stack(tmp_path, "http://127.0.0.1:9/s2s/events")
    done = _serve(s.env, str(tmp_path / "nowhere" / "outbox.sqlite"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "does not exist" in lines[0] and "Traceback" not in done.stderr


def test_read_only_data_directory_at_start_is_one_line_and_exit_1(tmp_path):
    s = Stack(tmp_path, "http://127.0.0.1:9/s2s/events")
    if os.geteuid() == 0:
        # root writes through chmod 555; /sys is a directory root cannot create files in.
        readonly = "/sys"
        with pytest.raises(OSError):
            open("/sys/.sgtm-probe", "w").close()  # noqa: SIM115
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        readonly = str(ro)
    done = _serve(s.env, os.path.join(readonly, "outbox.sqlite"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "is not writable" in lines[0] and "Traceback" not in done.stderr
