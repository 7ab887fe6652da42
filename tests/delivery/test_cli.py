"""`sgtm dlq` and `sgtm worker` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sgtm.cli import main
from sgtm.commands.dlq import parse_since
from sidecar.delivery.lock import WorkerLock
from sidecar.store.base import Attempt, Outcome
from sidecar.store.sqlite import SqliteStore
from tests.store.conftest import make_record

PLAN = "examples/shop/plan.yaml"


@pytest.fixture
def dead_outbox(tmp_path):
    path = str(tmp_path / "o.sqlite")
    s = SqliteStore(path)
    s.enqueue([make_record("ord-1", destinations=("meta", "ga4"), order_id="1")], 3600)
    s.claim(2e9, 10, 30)
    s.record(
        "ord-1", [Outcome("meta", "failed", Attempt(2e9, "failure", "HTTP 503", 503), 2e9)], 2e9
    )
    s.claim(2e9, 10, 30)
    s.record(
        "ord-1", [Outcome("meta", "aborted", Attempt(2e9 + 5, "failure", "gave up", 200))], 2e9 + 5
    )
    s.close()
    return path


def test_dlq_list_show_replay(dead_outbox, capsys):
    assert main(["dlq", "list", "--outbox", dead_outbox]) == 0
    out = capsys.readouterr().out
    assert "meta" in out and "purchase:ord-1" in out and "1 dead letter(s)" in out
    assert main(["dlq", "list", "--outbox", dead_outbox, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (letter,) = doc["dead_letters"]
    assert [a["reason"] for a in letter["attempts"]] == ["HTTP 503", "gave up"]
    assert main(["dlq", "show", letter["id"], "--outbox", dead_outbox]) == 0
    out = capsys.readouterr().out
    assert "attempts (2):" in out and "HTTP 503" in out and "order_id:     1" in out
    assert main(["dlq", "list", "--outbox", dead_outbox, "--destination", "ga4"]) == 0
    assert "no dead letters" in capsys.readouterr().out
    assert main(["dlq", "replay", "--outbox", dead_outbox, "--destination", "meta"]) == 0
    assert "1 dead letter(s) queued again" in capsys.readouterr().out
    assert main(["dlq", "list", "--outbox", dead_outbox]) == 0
    assert "no dead letters" in capsys.readouterr().out
    s = SqliteStore(dead_outbox)
    assert s.ledger("ord-1").destinations["meta"].state == "waiting"


def test_dlq_replay_shows_progress_on_stderr_and_none_with_json(dead_outbox, capsys):
    assert main(["dlq", "replay", "--outbox", dead_outbox]) == 0
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.startswith("[")] == [
        "[1/1] 1: ord-1 -> meta"
    ]
    assert "1 dead letter(s) queued again" in captured.out
    assert main(["dlq", "replay", "--outbox", dead_outbox, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"replayed": []} and captured.err == ""


def test_dlq_show_unknown_id(dead_outbox, capsys):
    assert main(["dlq", "show", "77", "--outbox", dead_outbox]) == 1
    assert "dead letter '77' not found" in capsys.readouterr().err


def test_bad_since_is_a_usage_error(dead_outbox, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["dlq", "replay", "--outbox", dead_outbox, "--since", "yesterday"])
    assert exc.value.code == 2
    assert "--since 'yesterday': expected ISO 8601" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", 1000.0 - 7200),
        ("30m", 1000.0 - 1800),
        ("1700000000", 1.7e9),
        ("2026-11-29T10:00Z", 1795946400.0),
        ("2026-11-29T10:00:00", 1795946400.0),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text, now=1000.0) == expected


def test_worker_refuses_to_start_without_collect_url(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SGTM_COLLECT_URL", raising=False)
    SqliteStore(str(tmp_path / "o.sqlite")).close()
    assert main(["worker", "--plan", PLAN, "--outbox", str(tmp_path / "o.sqlite")]) == 1
    assert "SGTM_COLLECT_URL is not set" in capsys.readouterr().err


def test_worker_refuses_a_missing_keyset(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SGTM_DELIVERY_KEYS", raising=False)
    SqliteStore(str(tmp_path / "o.sqlite")).close()
    rc = main(
        [
            "worker",
            "--plan",
            PLAN,
            "--outbox",
            str(tmp_path / "o.sqlite"),
            "--collect-url",
            "http://127.0.0.1:9/s2s/events",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "delivery keyset: SGTM_DELIVERY_KEYS: not set" in err


def test_worker_process_delivers_until_idle(tmp_path, sgtm, httpserver, keyset_json):
    path = str(tmp_path / "o.sqlite")
    s = SqliteStore(path)
    import time

    s.enqueue([make_record(f"e{i}", accepted_at=time.time()) for i in range(3)], 3600)
    env = dict(
        os.environ,
        SGTM_DELIVERY_KEYS=keyset_json,
        SGTM_OUTBOX=path,
        SGTM_PLAN=PLAN,
        SGTM_COLLECT_URL=httpserver.url_for("/s2s/events"),
    )
    sgtm.clock = time.time
    proc = subprocess.run(
        [sys.executable, "-m", "sgtm.cli", "worker", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 acknowledged" in proc.stderr
    assert set(sgtm.delivered.values()) == {1} and len(sgtm.delivered) == 6


def test_worker_refuses_an_outbox_that_does_not_exist(tmp_path, capsys, keyset_json, monkeypatch):
    monkeypatch.setenv("SGTM_DELIVERY_KEYS", keyset_json)
    typo = tmp_path / "outbx.sqlite"
    rc = main(
        ["worker", "--plan", PLAN, "--outbox", str(typo), "--collect-url", "http://127.0.0.1:9/"]
    )
    assert rc == 1
    assert f"{typo}: no such outbox (--outbox)" in capsys.readouterr().err
    assert not typo.exists()


def test_one_worker_per_outbox(tmp_path, keyset_json, capsys, monkeypatch):
    path = str(tmp_path / "o.sqlite")
    SqliteStore(path).close()
    monkeypatch.setenv("SGTM_DELIVERY_KEYS", keyset_json)
    with WorkerLock(path):
        rc = main(
            [
                "worker",
                "--plan",
                PLAN,
                "--outbox",
                path,
                "--collect-url",
                "http://127.0.0.1:9/s2s/events",
                "--until-idle",
            ]
        )
    assert rc == 1
    assert f"another delivery worker (pid {os.getpid()})" in capsys.readouterr().err
