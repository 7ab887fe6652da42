"""Shadow mode end to end: the sidecar's worker delivers to the local runtime serving the
generated container, pytest-httpserver plays GA4's validation endpoint and Meta with a test
event code, and each test surface's answer lands in the ledger with the attempt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from werkzeug import Response

from formats.plan import load_plan
from formats.signing import generate_keyset
from generator.render import generate
from runtime.dev import serve
from sidecar.delivery.batch import SHADOW_PREFIX, read_answer
from sidecar.store.base import Claim
from tests.conftest import EXAMPLE_PLAN
from tests.store.conftest import make_record

GA4_PATH = "/ga4/debug/mp/collect"
META_PATH = "/meta/v27.0/123456789012345/events"
TEST_CODE = "TEST12345"
VALIDATION = {
    "validationMessages": [
        {
            "fieldPath": "events.params.currency",
            "description": "Currency must be a 3 letter ISO 4217 code.",
            "validationCode": "VALUE_INVALID",
        }
    ]
}


@pytest.fixture
def keyset_json() -> str:
    # The generated client accepts the plan's delivery key ids (delivery-1, delivery-2).
    return generate_keyset("delivery-1")


@pytest.fixture
def shadow_runtime(tmp_path: Path, httpserver, keyset_json, monkeypatch):
    yaml = YAML()
    doc = yaml.load(EXAMPLE_PLAN.read_text())
    del doc["destinations"]["google_ads"]  # its example conversion id is not numeric
    doc["destinations"]["ga4"]["mode"] = "shadow"
    doc["destinations"]["meta"]["mode"] = "shadow"
    doc["destinations"]["meta"]["settings"]["test_event_code"] = TEST_CODE
    plan_path = tmp_path / "plan.yaml"
    with plan_path.open("w") as fh:
        yaml.dump(doc, fh)
    out = tmp_path / "generated"
    for rel, text in generate(load_plan(plan_path)).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    keys = tmp_path / "credentials.json"
    keys.write_text(keyset_json)
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keys))
    monkeypatch.setenv("GA4_API_SECRET", "ga4-test-secret")
    monkeypatch.setenv("META_ACCESS_TOKEN", "meta-test-token")
    routes = {
        "region1.google-analytics.com": httpserver.url_for("/ga4"),
        "graph.facebook.com": httpserver.url_for("/meta"),
    }
    server = serve(out / "container.json", routes=routes, log=lambda _line: None).start()
    yield f"http://127.0.0.1:{server.httpd.server_address[1]}/s2s/events"
    server.close()


def _requests(httpserver, path: str) -> list[dict]:
    return [json.loads(r.get_data()) for r, _ in httpserver.log if r.path == path]


def _shadow(reason: str) -> dict:
    assert reason.startswith(SHADOW_PREFIX), reason
    return json.loads(reason.removeprefix(SHADOW_PREFIX))


def test_test_surface_answers_are_recorded_and_not_retried(
    shadow_runtime, httpserver, outbox, make_worker, fake_clock
):
    httpserver.expect_request(GA4_PATH, method="POST").respond_with_json(VALIDATION)
    httpserver.expect_request(META_PATH, method="POST").respond_with_json(
        {"events_received": 1, "messages": [], "fbtrace_id": "AbCdEfGh"}
    )
    outbox.enqueue([make_record("s-1", accepted_at=fake_clock())], 48 * 3600)

    stats = make_worker(url=shadow_runtime).run(until_idle=True)

    assert stats.succeeded == 2
    (meta_sent,) = _requests(httpserver, META_PATH)
    assert meta_sent["test_event_code"] == TEST_CODE
    (ga4_sent,) = _requests(httpserver, GA4_PATH)  # once: a validation message is no failure
    assert ga4_sent["events"][0]["name"] == "purchase"
    entry = outbox.ledger("s-1")
    assert entry.status == "delivered"
    ga4, meta = entry.destinations["ga4"], entry.destinations["meta"]
    assert (ga4.state, ga4.attempts, meta.state, meta.attempts) == ("succeeded", 1, "succeeded", 1)
    assert _shadow(ga4.last_reason) == {
        "status_code": 200,
        "response": {**VALIDATION, "validationMessageCount": 1},
    }
    assert _shadow(meta.last_reason) == {
        "status_code": 200,
        "response": {"events_received": 1, "messages": [], "fbtrace_id": "AbCdEfGh"},
    }


def test_a_refused_test_event_records_the_error_and_is_retried(
    shadow_runtime, httpserver, outbox, make_worker, fake_clock
):
    httpserver.expect_request(GA4_PATH, method="POST").respond_with_json({"validationMessages": []})
    error = {
        "error": {
            "message": "Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": 2804003,
            "error_user_msg": "not kept: only message and codes are",
            "fbtrace_id": "XyZ",
        }
    }
    httpserver.expect_request(META_PATH, method="POST").respond_with_response(
        Response(json.dumps(error), 400, content_type="application/json")
    )
    outbox.enqueue([make_record("s-2", accepted_at=fake_clock())], 48 * 3600)

    make_worker(url=shadow_runtime).run_once()

    entry = outbox.ledger("s-2")
    assert entry.destinations["ga4"].state == "succeeded"
    meta = entry.destinations["meta"]
    assert meta.state == "failed" and meta.next_attempt_at is not None
    assert _shadow(meta.last_reason) == {
        "status_code": 400,
        "response": {
            "error": {"message": "Invalid parameter", "code": 100, "error_subcode": 2804003},
            "fbtrace_id": "XyZ",
        },
    }


def _claim(event_id: str) -> Claim:
    return Claim(event_id, {}, ("ga4", "meta"), {"ga4": 0, "meta": 0}, {"ga4": 0.0, "meta": 0.0})


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [
        ("yes", "malformed shadow summary at /results/0/shadow: expected an object"),
        ({"meta": []}, "at /results/0/shadow/meta: expected an object"),
        ({"meta": {"status_code": "200", "response": {}}}, "/shadow/meta/status_code: expected"),
        ({"meta": {"status_code": 200, "response": "x"}}, "/shadow/meta/response: expected"),
        ({"meta": {"status_code": 200, "response": {"m": "x" * 5000}}}, "more than 4096"),
    ],
)
def test_a_malformed_shadow_summary_is_named_and_the_outcome_still_counts(shadow, expected):
    answer = {
        "results": [
            {
                "event_id": "e",
                "destinations": {"ga4": "success", "meta": "success"},
                "shadow": shadow,
            }
        ],
        "errors": [],
    }
    verdicts = read_answer(json.dumps(answer).encode(), [_claim("e")])["e"]
    assert verdicts["meta"].outcome == "success"
    assert expected in verdicts["meta"].reason
    if isinstance(shadow, dict):
        assert verdicts["ga4"].reason == ""  # no summary for it: nothing to record
