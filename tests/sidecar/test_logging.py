"""Structured logs: no PII and no secret in any line, trace correlation, request ids, 500s."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sidecar.app import create_app
from sidecar.config import Config
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import Api, envelope

CANARIES = {
    "email": "canary.mail.7f3a@example.com",
    "phone": "+34 611 222 333",
    "first_name": "Zqxcanaryfirst",
    "last_name": "Zqxcanarylast",
    "city": "Zqxcanarycity",
    "postal_code": "ZQX-CANARY-POSTAL",
    "external_id": "zqx-canary-ext-77",
}
IDENTITY = {
    "client_id": "zqx-canary-cid.1732860000",
    "user_id": "zqx-canary-uid",
    "session_id": "zqx-canary-session",
}
CONTEXT = {
    "ip": "198.51.100.23",
    "user_agent": "ZqxCanaryAgent/1.0",
    "page_location": "https://shop.acme-home.example/p?q=zqxcanaryquery",
    "fbp": "fb.1.1732860000.zqxcanaryfbp",
    "gclid": "zqxcanarygclid",
}


class RawRecords(logging.Handler):
    """Sees each record before the app's redaction filter touches it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        text += json.dumps(getattr(record, "json_fields", {}), default=str)
        self.lines.append(text)


@pytest.fixture
def debug_app(tmp_path, sidecar_env, store):
    stream = io.StringIO()
    config = Config(
        plan_path=str(EXAMPLE_PLAN),
        environ=sidecar_env,
        store=store,
        log_stream=stream,
        log_level="DEBUG",
        project_id="acme-proj",
        rate_limits=False,
    )
    app = create_app(config)
    raw = RawRecords()
    sidecar_logger = logging.getLogger("sidecar")
    sidecar_logger.handlers.insert(0, raw)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(raw)
    yield app, stream, raw
    sidecar_logger.removeHandler(raw)
    root.removeHandler(raw)
    root.setLevel(old_level)


def _canary_event(event_id: str, **overrides):
    ev = envelope(event_id, user_data=dict(CANARIES), context=dict(CONTEXT), **IDENTITY)
    ev.update(overrides)
    return ev


def _secrets(env: dict[str, str]) -> list[str]:
    values = list(env.values())
    for name in ("WEB_TOKEN_KEYS", "WEB_SIGNING_KEYS", "SGTM_DELIVERY_KEYS"):
        values.extend(json.loads(env[name])["keys"].values())
    return values


def test_no_pii_canary_and_no_secret_in_any_log_line(debug_app, sidecar_env):
    app, stream, raw = debug_app
    api = Api(app.test_client(), sidecar_env)
    token = api.token()
    headers = {"User-Agent": CONTEXT["user_agent"], "X-Forwarded-For": CONTEXT["ip"]}
    assert api.signed(_canary_event("c-1"), headers=headers).status_code == 200
    assert api.signed(_canary_event("c-1")).status_code == 200  # duplicate
    assert api.browser(_canary_event("c-2"), token=token, headers=headers).status_code == 200
    batch = [_canary_event(f"c-b{i}", consent={"ads": i % 2 == 0}) for i in range(5)]
    batch.append(_canary_event("c-bad", timestamp=CANARIES["phone"]))
    assert api.signed(batch).status_code == 200
    invalid = _canary_event("c-3", user_data={"email": CANARIES["email"] * 20})
    assert api.signed(invalid).status_code == 400
    assert api.browser(_canary_event("c-4"), token=token + "x").status_code == 401
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 9  # startup + one audit entry per accepted/duplicate event
    for line in lines:
        json.loads(line)  # every line is one JSON object
    audits = [json.loads(x) for x in lines if '"consent_decision"' in x]
    assert {a["event_id"] for a in audits} >= {"c-1", "c-2", "c-b0", "c-b4"}
    haystacks = {"output": "\n".join(lines), "raw records": "\n".join(raw.lines)}
    needles = [*CANARIES.values(), *IDENTITY.values(), *CONTEXT.values(), token]
    needles += _secrets(sidecar_env)
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"{needle!r} appears in the {where}"
        assert "198.51.100" not in text, f"an IP prefix appears in the {where}"


def test_redaction_filter_scrubs_what_slips_through(debug_app, sidecar_env):
    app, stream, _ = debug_app
    with app.test_request_context("/v1/events?email=x"):
        logging.getLogger("sidecar.test").warning(
            "oops %s %s %s",
            CANARIES["email"],
            CONTEXT["ip"],
            sidecar_env["SHOPIFY_WEBHOOK_SECRET"],
            extra={"json_fields": {"phone": CANARIES["phone"]}},
        )
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "oops [redacted] [redacted] [redacted]"
    assert line["phone"] == "[redacted]"
    assert line["httpRequest"]["requestUrl"] == "/v1/events"  # no query string


def test_unexpected_error_answers_json_500_and_logs_request_id_without_pii(
    debug_app, sidecar_env, store, monkeypatch
):
    app, stream, _ = debug_app

    def broken(records, window):
        raise RuntimeError(f"disk says no for {CANARIES['email']}")

    monkeypatch.setattr(store, "enqueue", broken)
    api = Api(app.test_client(), sidecar_env)
    r = api.signed(_canary_event("boom-1"), headers={"X-Request-Id": "req-0123456789"})
    assert r.status_code == 500
    body = r.get_json()["error"]
    assert body["code"] == "internal" and body["request_id"] == "req-0123456789"
    assert "Traceback" not in r.get_data(as_text=True) and "disk" not in body["message"]
    errors = [json.loads(x) for x in stream.getvalue().splitlines() if '"unexpected_error"' in x]
    assert len(errors) == 1
    entry = errors[0]
    assert entry["severity"] == "ERROR"
    assert entry["request_id"] == "req-0123456789"
    assert "RuntimeError" in entry["message"] and "Traceback" in entry["message"]
    assert CANARIES["email"] not in stream.getvalue()
    stats = api.signed_get("/v1/stats").get_json()
    assert stats["errors_5xx"] == 1


@pytest.mark.parametrize(
    ("header", "value", "trace", "span"),
    [
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0af7651916cd43dd8448eb211c80319c",
            "b7ad6b7169203331",
        ),
        (
            "X-Cloud-Trace-Context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
            "105445aa7843bc8bf206b12000100000",
            "0000000000000001",
        ),
    ],
)
def test_trace_correlation_and_request_id(debug_app, sidecar_env, header, value, trace, span):
    app, stream, _ = debug_app
    api = Api(app.test_client(), sidecar_env)
    r = api.signed(envelope("tr-1"), headers={header: value})
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    (audit,) = [json.loads(x) for x in stream.getvalue().splitlines() if '"consent_decision"' in x]
    assert audit["logging.googleapis.com/trace"] == f"projects/acme-proj/traces/{trace}"
    assert audit["logging.googleapis.com/spanId"] == span
    assert audit["request_id"] == rid
    assert audit["severity"] == "INFO"
