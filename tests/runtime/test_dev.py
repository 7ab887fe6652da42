"""`sgtm dev` end to end: a real server on 127.0.0.1, a real stand-in for the destination."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from runtime.dev import DevError, serve
from tests.runtime.helpers import (
    condition,
    container,
    event_trigger,
    fixture_text,
    param,
)


def _post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    req = urllib.request.Request(url, data=raw, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _shop_container(tmp_path: Path) -> Path:
    tag = lambda name, trig, token: {  # noqa: E731
        "tagId": name,
        "name": name,
        "type": "cvt_11_2",
        "parameter": [param("endpoint", "{{Endpoint}}"), param("token", token)],
        "firingTriggerId": [trig],
    }
    return container(
        tmp_path / "container.json",
        templates={
            "1": fixture_text("client.tpl"),
            "2": fixture_text("http_tag.tpl"),
            "3": fixture_text("macro.tpl"),
        },
        clients=[
            {
                "clientId": "c1",
                "name": "Fixture Client",
                "type": "cvt_11_1",
                "priority": 5,
                "parameter": [param("path", "/collect")],
            },
        ],
        tags=[
            tag("Purchase tag", "10", "{{Label}}"),
            tag("All events tag", "11", "all"),
            {**tag("Blocked tag", "11", "x"), "blockingTriggerId": ["12"]},
            {**tag("Paused tag", "11", "x"), "paused": True},
        ],
        triggers=[
            event_trigger(
                "10", "purchase", condition("EQUALS", "{{Client Name}}", "Fixture Client")
            ),
            {
                "triggerId": "11",
                "name": "All",
                "type": "ALWAYS",
                "filter": [condition("MATCH_REGEX", "{{Event Name}}", "^(purchase|page_view)$")],
            },
            event_trigger("12", "purchase"),
        ],
        variables=[
            {
                "variableId": "v1",
                "name": "Endpoint",
                "type": "c",
                "parameter": [param("value", "https://collect.example.com/e")],
            },
            {
                "variableId": "v2",
                "name": "Label",
                "type": "cvt_11_3",
                "parameter": [param("prefix", "label:"), param("key", "event_name")],
            },
        ],
    )


@pytest.fixture
def stand_in(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/e", method="POST").respond_with_data("ok", status=200)
    return httpserver


def test_one_event_goes_through_client_triggers_and_tags(tmp_path: Path, stand_in: HTTPServer):
    route = {"collect.example.com": stand_in.url_for("/").rstrip("/")}
    logs: list[str] = []
    with serve(_shop_container(tmp_path), routes=route, log=logs.append).start() as server:
        status, headers, body = _post(
            server.url + "/collect",
            {"events": [{"event_name": "purchase", "value": 5, "email": "Ana@Example.com"}]},
            {"User-Agent": "pytest", "X-Forwarded-For": "203.0.113.7"},
        )
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"results": [{"index": 0, "event_name": "purchase"}]}
    sent = [json.loads(req.get_data()) for req, _ in stand_in.log]
    # Purchase fires the purchase tag and the ALWAYS tag; the blocked and paused ones do not.
    # The purchase trigger blocks "Blocked tag"; tags run in container order at equal priority.
    assert [s["token"] for s in sent] == ["label:purchase", "all"]
    assert sent[0]["em"] == "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11"
    assert all(
        req.headers["X-Sgtm-Original-Host"] == "collect.example.com" for req, _ in stand_in.log
    )
    access = [line for line in logs if line.startswith("sgtm dev: POST")]
    assert access and "Purchase tag=success" in access[0] and "All events tag=success" in access[0]
    assert not any("Ana@Example.com" in line for line in logs)


def test_page_view_fires_only_the_always_tag(tmp_path: Path, stand_in: HTTPServer):
    route = {"collect.example.com": stand_in.url_for("/").rstrip("/")}
    with serve(_shop_container(tmp_path), routes=route, log=lambda _l: None).start() as server:
        status, _, _ = _post(server.url + "/collect", {"events": [{"event_name": "page_view"}]})
        other, _, _ = _post(server.url + "/collect", {"events": [{"event_name": "sign_up"}]})
    assert status == 200 and other == 200
    assert [json.loads(r.get_data())["token"] for r, _ in stand_in.log] == ["all", "x"]


def test_unclaimed_request_is_400_and_unrouted_host_fails_the_tag(tmp_path: Path):
    logs: list[str] = []
    with serve(_shop_container(tmp_path), log=logs.append).start() as server:
        status, _, body = _post(server.url + "/elsewhere", {"events": []})
        assert status == 400 and b"No client claimed" in body
        status, _, _ = _post(server.url + "/collect", {"events": [{"event_name": "purchase"}]})
    assert status == 200  # the client answers; the tags report failure
    assert any("Purchase tag=failure" in line for line in logs)


def test_constant_variable_falls_back_to_environment(tmp_path: Path, stand_in, monkeypatch):
    path = _shop_container(tmp_path)
    doc = json.loads(path.read_text())
    doc["containerVersion"]["variable"][0]["parameter"] = [param("value", "")]
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("Endpoint", "https://collect.example.com/e")
    route = {"collect.example.com": stand_in.url_for("/").rstrip("/")}
    with serve(path, routes=route, log=lambda _l: None).start() as server:
        _post(server.url + "/collect", {"events": [{"event_name": "page_view"}]})
    assert len(stand_in.log) == 2


def test_bad_container_names_the_json_pointer(tmp_path: Path):
    path = _shop_container(tmp_path)
    doc = json.loads(path.read_text())
    doc["containerVersion"]["tag"][0]["firingTriggerId"] = ["99"]
    doc["containerVersion"]["tag"][1]["parameter"][0]["value"] = "{{Nope}}"
    path.write_text(json.dumps(doc))
    with pytest.raises(DevError) as err:
        serve(path)
    text = str(err.value)
    assert "/containerVersion/tag/0: trigger id '99' is not defined" in text
    assert "/containerVersion/tag/1/parameter/0/value: {{Nope}} is not a variable" in text


def test_debug_mode_prints_tag_logs(tmp_path: Path, stand_in: HTTPServer):
    route = {"collect.example.com": stand_in.url_for("/").rstrip("/")}
    quiet: list[str] = []
    loud: list[str] = []
    for debug, sink in ((False, quiet), (True, loud)):
        with serve(
            _shop_container(tmp_path), routes=route, debug=debug, log=sink.append
        ).start() as s:
            _post(s.url + "/collect", {"events": [{"event_name": "page_view"}]})
    assert not any("sending" in line for line in quiet)
    assert any("sending page_view" in line for line in loud)


def test_process_form_prints_the_bound_port(tmp_path: Path, stand_in: HTTPServer):
    path = _shop_container(tmp_path)
    route = "collect.example.com=" + stand_in.url_for("/").rstrip("/")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.dev", str(path), "--port", "0", "--route", route],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("sgtm dev: serving") and "http://127.0.0.1:" in first
        url = first.rsplit(" ", 1)[1]
        status, _, _ = _post(url + "/collect", {"events": [{"event_name": "purchase"}]})
        assert status == 200
        assert len(stand_in.log) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_concurrent_requests_each_get_their_own_contexts(tmp_path: Path, stand_in: HTTPServer):
    from concurrent.futures import ThreadPoolExecutor

    route = {"collect.example.com": stand_in.url_for("/").rstrip("/")}
    with serve(_shop_container(tmp_path), routes=route, log=lambda _l: None).start() as server:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda i: _post(server.url + "/collect", {"events": [{"event_name": f"e{i}"}]}),
                    range(24),
                )
            )
    assert [status for status, _, _ in answers] == [200] * 24
    assert sorted(json.loads(body)["results"][0]["event_name"] for _, _, body in answers) == sorted(
        f"e{i}" for i in range(24)
    )


def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path, capsys):
    from sgtm.cli import main as sgtm

    assert sgtm(["dev", str(tmp_path / "missing.json"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: ") and "missing.json: cannot read: No such file or directory" in err
    )
    path = _shop_container(tmp_path)
    assert sgtm(["dev", str(path), "--route", "graph.facebook.com"]) == 2
    assert "expected HOST=http://127.0.0.1:PORT" in capsys.readouterr().err
    assert sgtm(["dev", str(path), "--route", "a.com=ftp://x"]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_connections_are_served_with_tcp_nodelay(tmp_path: Path):
    # Nagle's algorithm held each single-event answer back for the client's delayed ACK.
    nodelay: list[int] = []
    with serve(_shop_container(tmp_path), log=lambda _l: None) as server:
        handler = server.httpd.RequestHandlerClass  # this server's own class
        original = handler.setup

        def setup(self):  # what the connection is set to once the handler has set it up
            original(self)
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        handler.setup = setup  # type: ignore[method-assign]
        server.start()
        status, _, _ = _post(server.url + "/elsewhere", {"events": []})
    assert status == 400
    assert nodelay and nodelay[0] != 0
