"""The generated templates and container (`sgtm generate` on the example plan) in the runtime:
their own ___TESTS___ pass, and a signed batch goes through `sgtm dev` end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer

from runtime.engine import load_template
from runtime.testing import run_tests
from sgtm.cli import build_parser
from sgtm.cli import main as sgtm
from tests.conftest import EXAMPLE_PLAN


def _has_generate() -> bool:
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse keeps it here
        if "generate" in getattr(action, "choices", {}):
            return True
    return False


pytestmark = pytest.mark.skipif(
    not _has_generate(), reason="`sgtm generate` is not registered yet (generator in progress)"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    assert sgtm(["generate", str(EXAMPLE_PLAN), "-o", str(out)]) == 0
    return out


def _templates(out: Path) -> list[Path]:
    found = sorted(out.rglob("*.tpl"))
    assert found, f"sgtm generate wrote no .tpl under {out}"
    return found


def test_generated_templates_pass_their_own_scenarios(generated: Path):
    failures = []
    count = 0
    for path in _templates(generated):
        for result in run_tests(load_template(path)):
            count += 1
            if not result.passed:
                failures.append((path.name, result.name, result.messages))
    assert count > 0, "the generated templates carry no scenarios"
    assert failures == []


def test_generated_templates_pass_strict_and_bind_event_callbacks_as_documented(
    generated: Path, capsys
):
    """The issue's done-when: `sgtm templates test --strict out/templates/*.tpl` passes (no use
    of what Google's sandbox documentation does not cover), and the client names
    addEventCallback only in the documented form bindToEvent(addEventCallback)(...)."""
    paths = [str(p) for p in _templates(generated)]
    assert sgtm(["templates", "test", "--strict", *paths]) == 0
    out = capsys.readouterr().out
    assert "portability" not in out and "WARNING" not in out
    client = next(p for p in _templates(generated) if p.name == "client.tpl")
    uses = [
        line.strip()
        for line in client.read_text("utf-8").splitlines()
        if "addEventCallback" in line
    ]
    code = [u for u in uses if not u.startswith(("//", "mock(", "if (boundDepth"))]
    assert code == [
        "const addEventCallback = require('addEventCallback');",
        "bindToEvent(addEventCallback)((containerId, eventData) => {",
    ]
    assert all("addEventCallback(bindToEvent" not in u for u in uses)


def test_the_client_tests_fail_on_the_inverted_add_event_callback_form(
    generated: Path, tmp_path: Path
):
    """The client's own ___TESTS___ mock runContainer's bindToEvent the way GTM documents it, so
    they tell the documented form from addEventCallback(bindToEvent(cb)), which they used to
    accept."""
    client = next(p for p in _templates(generated) if p.name == "client.tpl")
    text = client.read_text("utf-8")
    documented = "bindToEvent(addEventCallback)((containerId, eventData) => {"
    start = text.index(documented)
    end = text.index("\n      });", start) + len("\n      });")
    body = text[start + len(documented) : end - len("});")]
    inverted = "addEventCallback(bindToEvent((containerId, eventData) => {" + body + "}));"
    broken = tmp_path / "client.tpl"
    broken.write_text(text[:start] + inverted + text[end:], encoding="utf-8")
    results = run_tests(load_template(broken))
    failing = [r for r in results if not r.passed]
    assert failing, "the client's tests did not notice the inverted form"
    assert all(any("addEventCallback was called unbound" in m for m in r.messages) for r in failing)


def _container(out: Path) -> Path:
    candidates = [p for p in out.rglob("*.json") if "containerVersion" in p.read_text("utf-8")]
    assert candidates, f"sgtm generate wrote no container export under {out}"
    return candidates[0]


def _hosts(out: Path) -> set[str]:
    hosts = set()
    for path in _templates(out):
        tpl = load_template(path).tpl
        for url in (tpl.permission("send_http") or {}).get("urls") or []:
            host = urlsplit(str(url)).hostname
            if host and "*" not in host:
                hosts.add(host)
    return hosts


def _key_ids(container: Path) -> list[str]:
    doc = json.loads(container.read_text("utf-8"))
    ids = []
    for client in doc["containerVersion"].get("client") or []:
        for p in client.get("parameter") or []:
            if p.get("key") == "keyIds":
                for row in p.get("list") or []:
                    ids += [m.get("value") for m in row.get("map") or [] if m.get("key") == "keyId"]
    return ids or ["k1"]


def test_signed_batch_through_sgtm_dev(
    generated: Path, httpserver: HTTPServer, tmp_path, monkeypatch
):
    from runtime.dev import serve

    container = _container(generated)
    kid = _key_ids(container)[0]
    key = b"generated-test-key-0123456789abc"
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps({"keys": {kid: base64.b64encode(key).decode()}}))
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keyfile))
    monkeypatch.setenv("META_ACCESS_TOKEN", "meta-token-from-env")
    httpserver.expect_request("").respond_with_json({"events_received": 1})
    base = httpserver.url_for("/").rstrip("/")
    routes = {host: base for host in _hosts(generated)}
    batch = {
        "schema": 1,
        "sent_at": int(time.time() * 1000),
        "events": [
            {
                "event_name": "purchase",
                "event_id": "ord-1-purchase",
                "timestamp": int(time.time() * 1000),
                "client_id": "1.2",
                "consent": {"analytics": True, "ads": True},
                "params": {
                    "transaction_id": "1",
                    "value": 9.5,
                    "currency": "EUR",
                    "items": [{"id": "SKU-1", "qty": 1, "price": 9.5}],
                },
                "context": {"ip": "203.0.113.7", "user_agent": "pytest"},
                "destinations": {name: {"user_data": {}} for name in ("meta", "ga4")},
            }
        ],
    }
    body = json.dumps(batch).encode()
    t = str(int(time.time()))
    sig = hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    with serve(container, routes=routes, log=lambda _l: None).start() as server:
        doc = json.loads(container.read_text("utf-8"))
        paths = [
            p.get("value")
            for c in doc["containerVersion"].get("client") or []
            for p in c.get("parameter") or []
            if p.get("key") in ("clientPath", "path")
        ]
        req = urllib.request.Request(
            server.url + (paths[0] if paths else "/s2s/events"),
            data=body,
            method="POST",
            headers={
                "X-Sgtm-Signature": f"t={t},kid={kid},v1={sig}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                status, answer = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read()
    assert status == 200, answer
    assert answer["errors"] == []
    assert [r["event_id"] for r in answer["results"]] == ["ord-1-purchase"]
    outcomes = answer["results"][0]["destinations"]
    assert outcomes["meta"] == "success" and outcomes["ga4"] == "success"
    assert {v for k, v in outcomes.items() if k not in ("meta", "ga4")} <= {"skipped_not_requested"}
    # The empty META_ACCESS_TOKEN constant was filled from the environment.
    seen = [req.url + req.get_data(as_text=True) for req, _ in httpserver.log]
    assert any("meta-token-from-env" in text for text in seen)
    assert any(
        req.headers.get("X-Sgtm-Original-Host") == "graph.facebook.com" for req, _ in httpserver.log
    )
