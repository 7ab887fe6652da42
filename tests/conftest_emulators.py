"""The official Pub/Sub and Firestore emulators (gcloud CLI), started once per test process.

Started with the direct launchers (libraries.md §4: ~1 s instead of ~2 s through `gcloud`),
bound to 127.0.0.1 on free ports, each in its own session so stopping it kills the java child
and not just the wrapper script. Readiness is polled (`GET /` answers `Ok`). When the emulators
are missing the tests skip, except under CI=true, where a missing emulator fails the run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from sgtm.harness import free_port

_RUNNING: dict[str, tuple[subprocess.Popen, str]] = {}
_LAUNCHERS = {
    "pubsub": ("platform/pubsub-emulator/bin/cloud-pubsub-emulator", ()),
    "firestore": ("platform/cloud-firestore-emulator/cloud_firestore_emulator", ("start",)),
}


def _sdk_root() -> str | None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    for candidate in (
        "/usr/lib/google-cloud-sdk",
        os.path.dirname(os.path.dirname(os.path.realpath(gcloud))),
    ):
        if os.path.isdir(os.path.join(candidate, "platform")):
            return candidate
    out = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    root = out.stdout.strip()
    return root or None


def _missing(what: str) -> None:
    message = f"the {what} emulator is not installed (gcloud components install {what}-emulator)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def emulator(kind: str) -> str:
    """host:port of a running emulator of ``kind`` ("pubsub" or "firestore")."""
    if kind in _RUNNING and _RUNNING[kind][0].poll() is None:
        return _RUNNING[kind][1]
    root = _sdk_root()
    launcher, extra = _LAUNCHERS[kind]
    path = os.path.join(root, launcher) if root else ""
    if not root or not os.path.exists(path) or shutil.which("java") is None:
        _missing("pubsub" if kind == "pubsub" else "cloud-firestore")
    port = free_port()
    env = dict(
        os.environ,
        CLOUDSDK_CORE_DISABLE_PROMPTS="1",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
    )
    proc = subprocess.Popen(
        [path, *extra, "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the {kind} emulator exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://{host}/", timeout=1) as resp:
                if resp.read().strip() == b"Ok":
                    _RUNNING[kind] = (proc, host)
                    return host
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    pytest.fail(f"the {kind} emulator was not ready within 60 s")
    raise AssertionError("unreachable")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        # The launcher is the leader of its own session: this reaches the java child too.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@atexit.register
def _stop_all() -> None:
    for proc, _ in _RUNNING.values():
        try:
            _stop(proc)
        except ProcessLookupError:
            pass
    _RUNNING.clear()
