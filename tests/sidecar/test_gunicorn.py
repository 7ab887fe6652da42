"""The real server: `sgtm serve` runs gunicorn with several workers on 127.0.0.1.

Signed events from concurrent clients land exactly once in the shared SQLite outbox (dedupe
holds across worker processes), and SIGTERM shuts the server down gracefully.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from formats import signing
from sidecar.store.sqlite import SqliteStore
from tests.conftest import EXAMPLE_PLAN, REPO, free_port
from tests.sidecar.conftest import ORIGIN, envelope, make_env, outbox_rows

pytestmark = pytest.mark.slow


def _wait_ready(base: str, proc: subprocess.Popen, err: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {err.read_text()}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture
def server(tmp_path):
    env = {**os.environ, **make_env(), "SGTM_OUTBOX": str(tmp_path / "outbox.sqlite")}
    env["SGTM_RATE_LIMITS"] = "off"
    env["GUNICORN_LOGLEVEL"] = "info"
    port = free_port()
    # Files, not pipes: a full pipe would block the workers' log writes.
    out = (tmp_path / "server.out").open("wb")
    err = (tmp_path / "server.err").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sgtm",
            "serve",
            str(EXAMPLE_PLAN),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--workers",
            "3",
            "--threads",
            "2",
        ],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=err,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, tmp_path / "server.err")
        yield base, proc, env, tmp_path / "server.out"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()
        err.close()


def test_signed_events_through_several_gunicorn_workers(server, tmp_path):
    base, proc, env, log = server
    assert len(_children(proc.pid)) == 3  # the arbiter (this very process, exec'd) and 3 workers
    keys = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="test")
    tokens = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="test")

    def post_signed(event_id: str) -> dict:
        body = json.dumps(envelope(event_id)).encode()
        r = requests.post(
            f"{base}/v1/events",
            data=body,
            headers={
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.sign_request(keys, body),
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()["results"][0]

    def post_browser(event_id: str) -> dict:
        r = requests.post(
            f"{base}/v1/events",
            json=[envelope(event_id)],
            headers={
                "Origin": ORIGIN,
                "Authorization": "Bearer " + signing.issue_token(tokens, ORIGIN, 60),
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        return r.json()["results"][0]

    ids = [f"g-{i}" for i in range(40)]
    # Every id is sent twice, concurrently, by both kinds of caller: exactly one is accepted.
    jobs = [(post_signed, i) for i in ids] + [(post_browser, i) for i in ids]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda job: job[0](job[1]), jobs))
    by_id: dict[str, list[str]] = {}
    for result in results:
        by_id.setdefault(result["event_id"], []).append(result["status"])
    assert all(sorted(v) == ["accepted", "duplicate"] for v in by_id.values()), by_id
    store = SqliteStore(env["SGTM_OUTBOX"])
    rows = outbox_rows(store)
    store.close()
    assert sorted(r["event_id"] for r in rows) == sorted(ids)
    assert all("crm" in r["deliveries"] for r in rows)

    # A chunked body over the limit is refused, not silently cut (werkzeug truncates it).
    def chunks():
        yield b"["
        for _ in range(64):
            yield b" " * 32768
        yield b"]"

    big = requests.post(
        f"{base}/v1/events",
        data=chunks(),
        headers={"Content-Type": "application/json", signing.SIGNATURE_HEADER: "t=1,kid=x,v1=0"},
        timeout=10,
    )
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"

    header = signing.sign_request_v2(keys, "GET", "/v1/stats", b"")
    stats = requests.get(
        f"{base}/v1/stats", headers={signing.SIGNATURE_HEADER: header}, timeout=5
    ).json()
    assert stats["revision"] == "local"
    assert stats["errors_5xx"] == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]  # all of it JSON, gunicorn's too
    assert any(x.get("message", "").startswith("Booting worker") for x in lines)
    audits = [x for x in lines if x.get("type") == "consent_decision"]
    assert len(audits) == 80  # one audit entry per answered event, from every worker


def test_gunicorn_refuses_to_start_on_an_invalid_plan(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text(EXAMPLE_PLAN.read_text().replace("kind: meta_capi", "kind: meta_capy"))
    env = {**os.environ, **make_env(), "SGTM_PLAN": str(bad), "PORT": str(free_port())}
    env["SGTM_OUTBOX"] = str(tmp_path / "o.sqlite")
    done = subprocess.run(
        # Exactly the image's entry point (Dockerfile CMD).
        [sys.executable, "-m", "gunicorn", "-c", "python:sidecar.gunicorn_conf"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "refusing to start: the tracking plan is invalid" in done.stderr
    assert f"{bad}:" in done.stderr and "meta_capy" in done.stderr
    assert "Traceback" not in done.stderr


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_the_plan_at_app():
    # No Docker daemon in CI: hold the Dockerfile to the contract the deployment relies on.
    text = (REPO / "Dockerfile").read_text()
    stages = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert all(image.startswith("python:3.11-slim") for image in stages)
    final = text[text.rindex("FROM ") :]
    assert "USER 10001" in final and "useradd --system --uid 10001" in final
    assert "SGTM_PLAN=/app/plan.yaml" in final and "COPY ${PLAN} /app/plan.yaml" in final
    assert final.rstrip().endswith('CMD ["gunicorn", "-c", "python:sidecar.gunicorn_conf"]')
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".env*" in ignored
