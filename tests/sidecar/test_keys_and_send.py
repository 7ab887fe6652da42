"""`sgtm keys new|rotate|env` and `sgtm send`: keysets and a first signed event, as README shows.

The last test is the newcomer's path with real processes on 127.0.0.1: keys -> `sgtm serve`
(gunicorn) -> `sgtm send`, and the event is in the outbox with the decisions `send` printed.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from formats import signing
from formats.contract import envelope_schema
from formats.plan import load_plan
from sgtm.cli import main
from sgtm.example_event import ExampleError, build_envelope, parse_assignment
from sidecar.decision.validation import EnvelopeValidator
from tests.conftest import EXAMPLE_PLAN, free_port


def test_keys_new_prints_a_keyset_serve_accepts(capsys):
    assert main(["keys", "new", "--kid", "web-1"]) == 0
    text = capsys.readouterr().out
    keyset = signing.parse_keyset(text, source="stdout")
    assert list(keyset.keys) == ["web-1"]
    assert len(keyset.active_key) == signing.MIN_KEY_BYTES
    assert main(["keys", "new"]) == 0
    assert capsys.readouterr().out != text  # fresh bytes every time


def test_keys_new_refuses_a_key_id_that_cannot_travel_in_a_signature(capsys):
    assert main(["keys", "new", "--kid", "a.b"]) == 2
    assert "--kid 'a.b'" in capsys.readouterr().err


def test_keys_rotate_adds_the_new_key_second_and_keeps_the_signer(tmp_path, capsys):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {"k1": base64.b64encode(b"x" * 32).decode()}}))
    path.chmod(0o600)
    assert main(["keys", "rotate", str(path)]) == 0
    keyset = signing.parse_keyset(path.read_text(), source=str(path))
    assert list(keyset.keys) == ["k1", "k2"]
    assert keyset.active_kid == "k1" and keyset.active_key == b"x" * 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert "added key 'k2' second; 'k1' still signs" in capsys.readouterr().err
    assert main(["keys", "rotate", str(path), "--kid", "k2"]) == 1
    assert "'k2' is already in /keys" in capsys.readouterr().err


def test_keys_rotate_never_creates_a_missing_file(tmp_path, capsys):
    missing = tmp_path / "kyes.json"
    assert main(["keys", "rotate", str(missing)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert not missing.exists()


def test_keys_env_names_every_secret_of_the_plan(capsys):
    assert main(["keys", "env", str(EXAMPLE_PLAN)]) == 0
    lines = capsys.readouterr().out.splitlines()
    values = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    plan = load_plan(EXAMPLE_PLAN)
    assert set(values) == {ref.env for ref in plan.secret_refs()}
    delivery = signing.parse_keyset(values["SGTM_DELIVERY_KEYS"], source="delivery")
    assert delivery.active_kid == "delivery-1"  # what the generated client accepts
    signing.parse_keyset(values["WEB_SIGNING_KEYS"], source="signing")


@pytest.mark.parametrize("event", list(load_plan(EXAMPLE_PLAN).events))
def test_the_built_envelope_of_every_plan_event_is_valid(event):
    plan = load_plan(EXAMPLE_PLAN)
    envelope = build_envelope(plan, event)
    checked = EnvelopeValidator(envelope_schema(plan)).check(envelope)
    assert checked.ok, checked.errors
    assert envelope["consent"] == dict.fromkeys(plan.purposes, True)


def test_params_are_parsed_by_their_plan_type_and_unknown_ones_named():
    plan = load_plan(EXAMPLE_PLAN)
    envelope = build_envelope(
        plan,
        "purchase",
        [
            parse_assignment("value=59.9"),
            parse_assignment('items=[{"id": "SKU-9", "qty": 2}]'),
            parse_assignment("payment_type=card"),
        ],
        denied=("ads",),
    )
    assert envelope["params"]["value"] == 59.9
    assert envelope["params"]["items"] == [{"id": "SKU-9", "qty": 2}]
    assert envelope["consent"]["ads"] is False
    with pytest.raises(ExampleError, match="has no such param"):
        build_envelope(plan, "purchase", [parse_assignment("colour=red")])
    with pytest.raises(ExampleError, match="not a number"):
        build_envelope(plan, "purchase", [parse_assignment("value=lots")])
    with pytest.raises(ExampleError, match="'nope' is not in plan acme-home"):
        build_envelope(plan, "nope")
    with pytest.raises(ExampleError, match="expected NAME=VALUE"):
        parse_assignment("value")


def test_send_reports_an_invalid_param_by_pointer_before_sending(capsys, monkeypatch):
    monkeypatch.setenv("WEB_SIGNING_KEYS", signing.generate_keyset())
    code = main(["send", str(EXAMPLE_PLAN), "purchase", "--param", "payment_type=cash"])
    assert code == 1
    assert "/params/payment_type: must be one of" in capsys.readouterr().err


def test_send_without_the_keyset_says_how_to_make_one(capsys, monkeypatch):
    monkeypatch.delenv("WEB_SIGNING_KEYS", raising=False)
    assert main(["send", str(EXAMPLE_PLAN), "purchase", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "WEB_SIGNING_KEYS: not set" in err and "sgtm keys new" in err


def test_send_exits_3_when_no_sidecar_answers(capsys, monkeypatch):
    monkeypatch.setenv("WEB_SIGNING_KEYS", signing.generate_keyset())
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["send", str(EXAMPLE_PLAN), "purchase", "--url", url]) == 3
    assert "no answer" in capsys.readouterr().err


def test_send_dry_run_signs_what_it_would_send(capsys, monkeypatch):
    keys = signing.generate_keyset()
    monkeypatch.setenv("WEB_SIGNING_KEYS", keys)
    assert main(["send", str(EXAMPLE_PLAN), "refund", "--dry-run", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    body = json.dumps(doc["envelope"]).encode()
    check = signing.verify_request(
        signing.parse_keyset(keys, source="t"), doc["headers"][signing.SIGNATURE_HEADER], body
    )
    assert check.ok


# -- the newcomer's path, real processes ----------------------------------------------------


def _sgtm(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgtm", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sgtm serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - 127.0.0.1
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"sgtm serve not ready: {log.read_text()}")


@pytest.mark.slow
def test_keys_new_then_serve_then_send_with_real_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGTM_")}
    exports = _sgtm("keys", "env", str(EXAMPLE_PLAN), env=env, cwd=tmp_path)
    assert exports.returncode == 0, exports.stderr
    for line in exports.stdout.splitlines():
        name, value = shlex.split(line)[1].split("=", 1)
        env[name] = value
    new = _sgtm("keys", "new", env=env, cwd=tmp_path)
    assert new.returncode == 0, new.stderr
    env["WEB_SIGNING_KEYS"] = new.stdout.strip()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "sgtm", "serve", str(EXAMPLE_PLAN), "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=sink,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v1/readyz", server, log)
        url = f"http://127.0.0.1:{port}"
        sent = _sgtm(
            "send", str(EXAMPLE_PLAN), "purchase", "--deny", "ads", "--url", url,
            "--format", "json", env=env, cwd=tmp_path,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        report = json.loads(sent.stdout)
        result = report["answer"]["results"][0]
        assert result["status"] == "accepted"
        assert result["destinations"] == {
            "ga4": "queued",
            "warehouse": "queued",
            "crm": "queued",
            "meta": "blocked_no_consent",
            "google_ads": "blocked_no_consent",
        }
        text = _sgtm("send", str(EXAMPLE_PLAN), "view_item", "--url", url, env=env, cwd=tmp_path)
        assert text.returncode == 0, text.stderr
        assert "HTTP 200" in text.stdout and "meta" in text.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    with sqlite3.connect(tmp_path / "sgtm-outbox.sqlite") as db:
        ids = {row[0] for row in db.execute("SELECT event_id FROM events")}
    assert report["event_id"] in ids
