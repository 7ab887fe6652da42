"""gunicorn itself (issue 13): its own log lines are redacted at every level, access log
included, and a bad keyset stops it before it forks, with one message and exit code 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from formats import signing
from tests.conftest import EXAMPLE_PLAN, REPO, free_port
from tests.sidecar.conftest import envelope, make_env
from tests.sidecar.test_gunicorn import _wait_ready

pytestmark = pytest.mark.slow

CANARY_MAIL = "zqx.gunicorn.canary@example.com"
CANARY_PHONE = "+34 611 999 000"
CANARY_IP = "198.51.100.77"


def test_gunicorn_lines_go_through_the_redaction_at_debug_with_the_access_log(tmp_path):
    env = {**os.environ, **make_env(), "SGTM_OUTBOX": str(tmp_path / "outbox.sqlite")}
    env.update(
        SGTM_PLAN=str(EXAMPLE_PLAN),
        SGTM_RATE_LIMITS="off",
        GUNICORN_LOGLEVEL="debug",
        GUNICORN_ACCESSLOG="on",
        SGTM_LOG_LEVEL="DEBUG",
        PORT=str(free_port()),
        HOST="127.0.0.1",
        WORKERS="1",
    )
    out = (tmp_path / "server.out").open("wb")
    err = (tmp_path / "server.err").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:sidecar.gunicorn_conf"],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=err,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        _wait_ready(base, proc, tmp_path / "server.err")
        requests.get(f"{base}/v1/{CANARY_MAIL}?phone={CANARY_PHONE}", timeout=5)
        keys = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="t")
        event = envelope("gl-1", user_data={"email": CANARY_MAIL, "phone": CANARY_PHONE})
        event["context"]["ip"] = CANARY_IP
        body = json.dumps(event).encode()
        r = requests.post(
            f"{base}/v1/events?email={CANARY_MAIL}",
            data=body,
            headers={
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.sign_request(keys, body),
                "X-Forwarded-For": CANARY_IP,
                "User-Agent": f"agent {CANARY_MAIL}",
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()
        err.close()
    text = (tmp_path / "server.out").read_text() + (tmp_path / "server.err").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    messages = [x.get("message", "") for x in lines]
    # The test sees what it needs to: gunicorn's debug lines and its access lines.
    # gunicorn's debug line of the request, and its access line, with the path redacted.
    assert "GET [redacted]" in messages, messages
    assert any(m.startswith("GET [redacted] HTTP/1.1 404 ") for m in messages), messages
    assert any("POST /v1/events" in m and " 200 " in m for m in messages), messages
    for canary in (CANARY_MAIL, CANARY_PHONE, CANARY_IP, "zqx.gunicorn", "999 000"):
        assert canary not in text
    # The configured secrets never appear either.
    for name in ("SHOPIFY_WEBHOOK_SECRET", "CRM_WEBHOOK_TOKEN", "WEB_SIGNING_KEYS"):
        assert env[name] not in text


@pytest.mark.parametrize(
    "variable",
    ["WEB_TOKEN_KEYS", "SGTM_DELIVERY_KEYS"],
)
def test_a_bad_keyset_stops_gunicorn_before_it_forks(tmp_path, variable):
    env = {**os.environ, **make_env(), "SGTM_PLAN": str(EXAMPLE_PLAN), "PORT": str(free_port())}
    env["SGTM_OUTBOX"] = str(tmp_path / "o.sqlite")
    env[variable] = '{"keys": {"k1": "c2hvcnQ="}}'
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:sidecar.gunicorn_conf"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert "Booting worker" not in done.stderr + done.stdout
    assert f"refusing to start: {variable}: /keys/k1: key is 5 bytes" in done.stderr
    assert "c2hvcnQ=" not in done.stderr


def test_sgtm_serve_refuses_a_bad_keyset_with_exit_1(tmp_path):
    env = {**os.environ, **make_env(), "SGTM_OUTBOX": str(tmp_path / "o.sqlite")}
    env["WEB_SIGNING_KEYS"] = "[]"
    done = subprocess.run(
        [sys.executable, "-m", "sgtm", "serve", str(EXAMPLE_PLAN), "--port", str(free_port())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "WEB_SIGNING_KEYS: /: expected an object" in done.stderr
    assert "Traceback" not in done.stderr
