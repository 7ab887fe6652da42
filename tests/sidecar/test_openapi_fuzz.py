"""Schemathesis against /openapi.json, in-process over WSGI, bounded: no 5xx, answers conform.

Two apps on real SQLite outboxes. In the first, POSTs carry a valid request signature (a small
WSGI wrapper signs the exact bytes sent), so the Event API and ``/v1/context`` fuzzing reaches
validation and the outbox; webhook and push requests carry whatever was generated and mostly
answer 401, which proves that path has no 500. In the second, a wrapper signs every webhook the
way its platform does and puts the push token in ``/v1/deliver`` URLs, so generated payloads
reach the mappings, the identity join, the pipeline and the delivery worker. The worker sends
to a local stand-in for sGTM that is down (pytest-httpserver without a handler answers 500).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from formats import signing
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.store.sqlite import SqliteStore
from sidecar.verification import webhook_signatures as sig
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope, make_env

FIXTURES = Path(__file__).parent.parent / "webhooks" / "fixtures"
PUSH_TOKEN = "push-token-for-fuzzing"  # noqa: S105 - a test value
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
WEBHOOKS = {
    "POST /v1/webhooks/shopify": "shopify",
    "POST /v1/webhooks/woocommerce": "woocommerce",
    "POST /v1/webhooks/stripe": "stripe",
}


class Credentials:
    """Adds what a legitimate caller would: a request signature on POSTs without a bearer token
    (Event API, /v1/context) and, with ``platforms``, each platform's webhook signature and the
    push token, all over the exact bytes sent."""

    def __init__(self, app, env: dict[str, str], *, platforms: bool) -> None:
        self.app = app
        self.env = env
        self.keyset = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="test")
        self.platforms = platforms

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if method == "GET" and path == "/v1/stats":
            # The operator's signed read of the counters (version 2: method and path).
            environ["HTTP_X_SGTM_SIGNATURE"] = signing.sign_request_v2(
                self.keyset, method, path, b""
            )
        if method != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if "HTTP_AUTHORIZATION" not in environ:
            environ["HTTP_X_SGTM_SIGNATURE"] = signing.sign_request_v2(
                self.keyset, method, path, body
            )
        if self.platforms:
            self._sign(environ, body)
        return self.app(environ, start_response)

    def _sign(self, environ: dict[str, Any], body: bytes) -> None:
        path = environ.get("PATH_INFO", "")
        if path == "/v1/webhooks/shopify":
            secret = self.env["SHOPIFY_WEBHOOK_SECRET"]
            environ["HTTP_X_SHOPIFY_HMAC_SHA256"] = sig.base64_hmac(secret, body)
        elif path == "/v1/webhooks/woocommerce":
            if sig.woocommerce_ping_id(body, environ.get("CONTENT_TYPE")) is not None:
                # WooCommerce's activation ping is sent without a signature.
                environ.pop("HTTP_X_WC_WEBHOOK_SIGNATURE", None)
            else:
                secret = self.env["WOOCOMMERCE_WEBHOOK_SECRET"]
                environ["HTTP_X_WC_WEBHOOK_SIGNATURE"] = sig.base64_hmac(secret, body)
        elif path == "/v1/webhooks/stripe":
            secret = self.env["STRIPE_WEBHOOK_SECRET"]
            environ["HTTP_STRIPE_SIGNATURE"] = sig.stripe_header(secret, int(time.time()), body)
        elif path == "/v1/deliver":
            query = [(k, v) for k, v in parse_qsl(environ.get("QUERY_STRING", "")) if k != "token"]
            environ["QUERY_STRING"] = urlencode([*query, ("token", PUSH_TOKEN)])


@pytest.fixture(scope="module")
def sgtm_down():
    # The sGTM stand-in: no handler, so every batch answers 500 and stays pending.
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def build(tmp_path_factory, sgtm_down, *, platforms: bool):
    env = {**make_env(), "SGTM_PUSH_TOKEN": PUSH_TOKEN}
    store = SqliteStore(tmp_path_factory.mktemp("fuzz") / "o.sqlite", synchronous="NORMAL")
    app = create_app(
        Config(
            plan_path=str(EXAMPLE_PLAN),
            environ=env,
            store=store,
            collect_url=sgtm_down.url_for("/s2s/events"),
            rate_limits=False,
            log_stream=io.StringIO(),
        )
    )
    app.wsgi_app = Credentials(app.wsgi_app, env, platforms=platforms)
    return app, store


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, sgtm_down):
    app, store = build(tmp_path_factory, sgtm_down, platforms=False)
    yield app
    store.close()


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory, sgtm_down):
    app, store = build(tmp_path_factory, sgtm_down, platforms=True)
    yield app
    store.close()


def operations(app) -> dict[str, Any]:
    # The plain hypothesis API: schemathesis' pytest fixture loader does not run under this
    # pytest version ('Function' object has no attribute '_nodeid').
    api_schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return {op.label: op for op in (r.ok() for r in api_schema.get_all_operations())}


def fuzz(operation, mode: GenerationMode, examples: int, statuses: dict[str, set[int]]) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same cases every run
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        response = case.call_and_validate(checks=CHECKS)
        statuses.setdefault(case.operation.label, set()).add(response.status_code)

    run()


def test_no_server_errors_and_conforming_answers(fuzzed_app):
    ops = operations(fuzzed_app)
    # schemathesis leaves out the operation that serves the schema itself.
    assert sorted(ops) == [
        "GET /healthz",
        "GET /readyz",
        "GET /v1/healthz",
        "GET /v1/readyz",
        "GET /v1/stats",
        "OPTIONS /v1/context",
        "OPTIONS /v1/events",
        "POST /v1/context",
        "POST /v1/deliver",
        "POST /v1/events",
        "POST /v1/webhooks/shopify",
        "POST /v1/webhooks/stripe",
        "POST /v1/webhooks/woocommerce",
    ]
    statuses: dict[str, set[int]] = {}
    for label, operation in ops.items():
        post = operation.method.upper() == "POST"
        fuzz(operation, GenerationMode.POSITIVE, 40 if label == "POST /v1/events" else 15, statuses)
        if post:
            # Negative generation needs something to break: only POSTs have bodies.
            fuzz(operation, GenerationMode.NEGATIVE, 25, statuses)
    # The signed fuzzing got past authentication into validation and the pipeline.
    assert {200, 400} <= statuses["POST /v1/events"]
    assert {200, 400} <= statuses["POST /v1/context"]
    # Generated signatures and push tokens are refused, never crash.
    for label in [*WEBHOOKS, "POST /v1/deliver"]:
        assert 401 in statuses[label], label
    assert statuses["OPTIONS /v1/context"] <= {204, 403}


def test_signed_generated_payloads_reach_the_mappings(signed_app):
    ops = operations(signed_app)
    statuses: dict[str, set[int]] = {}
    for label in [*WEBHOOKS, "POST /v1/deliver"]:
        fuzz(ops[label], GenerationMode.POSITIVE, 40, statuses)
        fuzz(ops[label], GenerationMode.NEGATIVE, 20, statuses)
    for label in WEBHOOKS:
        # Signed like the platform: never 401 nor 400; generated orders are read and
        # acknowledged (200) or quarantined naming the pointer (202).
        assert 401 not in statuses[label], label
        assert 400 not in statuses[label], label
        assert {200, 202} <= statuses[label], (label, statuses[label])
    # Generated message data is rarely base64 of JSON: 400 naming /message/data. Push bodies
    # that name events are the next test's.
    assert 401 not in statuses["POST /v1/deliver"]
    assert 400 in statuses["POST /v1/deliver"]


# --- platform payloads, correctly signed, mutated by hypothesis ----------------------------------


def fixtures(platform: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((FIXTURES / platform).glob("*.input.json")):
        fixture = json.loads(path.read_text(encoding="utf-8"))
        fixture["name"] = path.name.removesuffix(".input.json")
        found.append(fixture)
    return found


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e400", "12.345", "EUR", "eur", "XX", "2024-13-40T99:00"]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document, as a tuple of keys and indexes."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw, platform: str) -> tuple[dict[str, Any], Any]:
    fixture = draw(st.sampled_from(fixtures(platform)))
    payload = copy.deepcopy(fixture["payload"])
    for _ in range(draw(st.integers(0, 3))):
        # Recomputed each round: a replaced or removed member takes its children with it.
        where = draw(st.sampled_from(paths(payload) or [()]))
        if not where:
            break
        parent = payload
        for step in where[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(JSON_VALUES)
    return fixture, payload


DELIVERIES = iter(range(10**9))


def call(operation, fixture: dict[str, Any], payload: Any, platform: str):
    headers = {}
    if platform == "shopify":
        # A new delivery id each time: the same id would make every later order a duplicate.
        delivery = f"wh-fuzz-{next(DELIVERIES)}"
        headers = {"X-Shopify-Topic": fixture["topic"], "X-Shopify-Webhook-Id": delivery}
    elif platform == "woocommerce":
        headers = {"X-WC-Webhook-Topic": fixture["topic"]}
    case = operation.Case(body=payload, headers=headers, media_type="application/json")
    return case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "stripe"])
def test_mutated_platform_payloads_signed_like_the_platform(signed_app, platform):
    operation = operations(signed_app)[f"POST /v1/webhooks/{platform}"]
    statuses: set[int] = set()
    answers: set[str] = set()

    @given(case=mutated(platform))
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        fixture, payload = case
        response = call(operation, fixture, payload, platform)
        statuses.add(response.status_code)
        if response.status_code == 200:
            answers.add(response.json()["status"])
        else:
            # Authentic: quarantined, naming where (a JSON pointer into the payload or the
            # mapped events, or the missing header).
            assert response.status_code == 202, response.text
            errors = response.json()["errors"]
            assert errors and all(
                e["pointer"].startswith("/") or e["pointer"].startswith("X-") for e in errors
            ), errors

    run()
    assert 500 not in statuses
    assert statuses == {200, 202}, statuses
    # The pipeline was reached: orders were accepted (or recognised as already accepted).
    assert answers & {"accepted", "duplicate"}, answers


# --- /v1/deliver with push bodies that name real events ------------------------------------------


def push_body(event_id: Any) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"event_id": event_id}).encode()).decode()
    return {
        "message": {"data": data, "messageId": "1"},
        "subscription": "projects/p/subscriptions/s",
    }


def test_push_bodies_for_known_and_unknown_events(signed_app):
    ops = operations(signed_app)
    client = signed_app.test_client()
    known = [f"fz-push-{i}" for i in range(3)]
    for event_id in known:
        accepted = client.post(
            "/v1/events",
            json=envelope(event_id, timestamp=int(time.time() * 1000)),
        )
        assert accepted.status_code == 200, accepted.get_json()
    deliver = ops["POST /v1/deliver"]
    statuses: set[int] = set()

    @given(event_id=st.one_of(st.sampled_from(known), st.text(max_size=30), st.integers()))
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(event_id):
        case = deliver.Case(body=push_body(event_id), media_type="application/json")
        # 503 is this endpoint's documented nack, which schemathesis' not_a_server_error
        # would count as a failure: the other checks, and no 500, are asserted instead.
        response = case.call_and_validate(checks=CHECKS[1:])
        assert response.status_code != 500, response.text
        statuses.add(response.status_code)
        if response.status_code == 503:
            # sGTM is down: the destinations stay pending and Pub/Sub is told to redeliver.
            assert response.json()["event_id"] in known

    run()
    # Unknown ids are acked, bodies without a usable event id are 400, known ones are nacked.
    assert statuses == {204, 400, 503}, statuses
