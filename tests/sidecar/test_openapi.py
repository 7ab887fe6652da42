"""The OpenAPI document itself: valid OpenAPI 3.1, every ``$ref`` resolves, every embedded schema
is valid JSON Schema 2020-12, deterministic, and the request schemas say what the code checks."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31

from formats import signing
from formats.plan.loader import load_plan
from sidecar.api.openapi import build_openapi
from sidecar.api.webhooks_spec import SHOPIFY_TOPICS
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.webhooks import identity, shopify, stripe, woocommerce
from sidecar.webhooks.payload import PayloadError
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import make_env

FIXTURES = Path(__file__).parent.parent / "webhooks" / "fixtures"


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLE_PLAN)


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    from sidecar.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path_factory.mktemp("oa") / "o.sqlite", synchronous="NORMAL")
    app = create_app(
        Config(
            plan_path=str(EXAMPLE_PLAN),
            environ=make_env(),
            store=store,
            rate_limits=False,
            log_stream=io.StringIO(),
        )
    )
    served = app.test_client().get("/openapi.json").get_json()
    yield served
    store.close()


def component(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one component, resolving references against the whole document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", **doc})


def refs(node: Any, where: str = "#") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = [(where, node["$ref"])] if isinstance(node.get("$ref"), str) else []
        for key, value in node.items():
            found += refs(value, f"{where}/{key}")
        return found
    if isinstance(node, list):
        return [r for i, v in enumerate(node) for r in refs(v, f"{where}/{i}")]
    return []


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{pointer}: no {part!r}"
        node = node[part]
    return node


def test_the_document_is_valid_openapi_31(doc):
    # openapi-spec-validator is not installed; schemathesis ships the official 3.1 schema.
    errors = [
        f"{e.json_path}: {e.message}" for e in Draft202012Validator(OPENAPI_31).iter_errors(doc)
    ]
    assert errors == []
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    found = refs(doc)
    assert len(found) > 50
    for where, target in found:
        assert resolve(doc, target) is not None, where


def test_every_operation_is_described_precisely(doc):
    assert sorted(doc["paths"]) == [
        "/healthz",
        "/openapi.json",
        "/readyz",
        "/v1/context",
        "/v1/deliver",
        "/v1/events",
        "/v1/healthz",
        "/v1/readyz",
        "/v1/stats",
        "/v1/webhooks/shopify",
        "/v1/webhooks/stripe",
        "/v1/webhooks/woocommerce",
    ]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            # No generic fallback entry is left (other_routes answers "default" only).
            assert "default" not in operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                if status in ("204",) or path == "/openapi.json":
                    continue
                assert "content" in response, (path, method, status)
    schemes = doc["components"]["securitySchemes"]

    def headers(path: str) -> set[str]:
        op = doc["paths"][path]["post"]
        return {
            schemes[name]["name"]
            for req in op["security"]
            for name in req
            if "name" in schemes[name]
        }

    assert headers("/v1/webhooks/shopify") == {"X-Shopify-Hmac-Sha256"}
    assert headers("/v1/webhooks/woocommerce") == {"X-WC-Webhook-Signature"}
    assert headers("/v1/webhooks/stripe") == {"Stripe-Signature"}
    assert headers("/v1/context") == {"X-Sgtm-Signature"}
    context = doc["paths"]["/v1/context"]["post"]
    assert {"browserToken"} in [set(r) for r in context["security"]]
    assert "Origin" in {p["name"] for p in context["parameters"]}
    deliver = doc["paths"]["/v1/deliver"]["post"]
    assert [set(r) for r in deliver["security"]] == [{"pubsubOidc"}, {"pushToken"}]
    assert schemes["pubsubOidc"] == {
        **schemes["pubsubOidc"],
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    params = {
        p["name"]: p["required"] for p in doc["paths"]["/v1/webhooks/shopify"]["post"]["parameters"]
    }
    assert params == {"X-Shopify-Topic": True, "X-Shopify-Webhook-Id": False}
    woo = {p["name"] for p in doc["paths"]["/v1/webhooks/woocommerce"]["post"]["parameters"]}
    assert woo == {"X-WC-Webhook-Topic", "X-WC-Webhook-Resource", "X-WC-Webhook-Event"}
    for path in ("/v1/webhooks/shopify", "/v1/context"):
        assert doc["paths"][path]["post"]["responses"]["503"]["headers"]["Retry-After"]
    assert set(context["responses"]) == {
        "200", "400", "401", "403", "404", "413", "415", "429", "503"
    }  # fmt: skip
    assert set(deliver["responses"]) == {"204", "400", "401", "403", "413", "503"}


def test_the_document_is_deterministic(doc, plan):
    again = json.loads(json.dumps(build_openapi(plan, 100, 1_048_576), sort_keys=True))
    assert again["components"] == doc["components"]
    assert json.dumps(build_openapi(plan, 100, 1_048_576), sort_keys=True) == json.dumps(
        build_openapi(load_plan(EXAMPLE_PLAN), 100, 1_048_576), sort_keys=True
    )


def test_the_listed_topics_are_the_mapped_ones():
    # Every Shopify topic the document lists reaches the payload (not "not mapped").
    for topic in SHOPIFY_TOPICS:
        with pytest.raises(PayloadError):
            shopify.map_webhook(topic, {}, {"purchase_topics": list(SHOPIFY_TOPICS)})
    assert "not mapped" in (shopify.map_webhook("orders/edited", {}).ignored or "")


# --- the context schema is parse_context's rules ----------------------------------------------

PURPOSES = ["analytics", "ads", "functional"]
FIELDS = ["token", "consent", *identity.ID_FIELDS, *identity.CONTEXT_STRINGS]


STRINGS = [*identity.ID_FIELDS, *identity.CONTEXT_STRINGS]


def text_near(limit: int) -> st.SearchStrategy[str]:
    # Lengths at the limit, counted in characters (not UTF-8 bytes).
    return st.one_of(
        st.text(max_size=12),
        st.integers(-1, 1).map(lambda n: "x" * (limit + n)),
        st.integers(-1, 1).map(lambda n: "é" * (limit + n)),
    )


def values(name: str) -> st.SearchStrategy[Any]:
    other = st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=2))
    if name == "token":
        printable = st.characters(min_codepoint=0x20, max_codepoint=0x7F)
        return st.one_of(
            other,
            st.text(alphabet=printable, max_size=12),
            st.integers(7, 9).map(lambda n: " " + "t" * n + "\t"),
            st.integers(255, 257).map(lambda n: "k" * n),
            st.just("c1-8a6f0e4c9b3d2e1f?key=abc"),
            st.just("tok en-with-space"),
        )
    if name == "consent":
        purposes = st.sampled_from([*PURPOSES, "marketing"])
        return st.one_of(
            other,
            st.dictionaries(purposes, st.one_of(st.booleans(), st.none(), st.just(1)), max_size=4),
        )
    limit = identity.ID_MAX if name in identity.ID_FIELDS else identity.CONTEXT_MAX
    return st.one_of(other, st.just(""), text_near(limit))


@st.composite
def context_documents(draw) -> Any:
    """Mostly valid documents with a few members set to edge values: a verdict that differs
    between schema and code then points at one rule."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=3)))
    document: dict[str, Any] = {"token": "c1-8a6f0e4c9b3d"}
    for name in draw(st.lists(st.sampled_from(STRINGS), unique=True, max_size=4)):
        document[name] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        # An unknown purpose now and then ("marketing" is not in the example plan).
        granted = draw(st.lists(st.sampled_from([*PURPOSES, *PURPOSES, "marketing"]), unique=True))
        document["consent"] = {p: draw(st.booleans()) for p in granted}
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from([*FIELDS, "unknown"]))
        if draw(st.integers(0, 5)) == 0:
            document.pop(name, None)
        else:
            document[name] = draw(values(name))
    return document


def _context_verdicts(doc, plan, seen: set[bool]):
    validator = component(doc, "Context")

    @settings(max_examples=1500, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(document=context_documents())
    def check(document):
        try:
            identity.parse_context(document, plan)
            accepted = True
        except identity.ContextErrors:
            accepted = False
        assert validator.is_valid(document) == accepted, document
        seen.add(accepted)

    return check


def test_context_schema_equals_the_code(doc, plan):
    seen: set[bool] = set()
    _context_verdicts(doc, plan, seen)()
    assert seen == {True, False}


# --- the platform payload schemas require what the mappings require ----------------------------


def schema_for(platform: str, name: str) -> str:
    if platform == "shopify":
        return "ShopifyRefund" if name.startswith("refund") else "ShopifyOrder"
    return {"woocommerce": "WooCommerceOrder", "stripe": "StripeEvent"}[platform]


def map_fixture(platform: str, fixture: dict[str, Any], payload: Any):
    settings = {"test_orders": "forward", **fixture.get("settings", {})}
    if platform == "shopify":
        return shopify.map_webhook(fixture["topic"], payload, settings)
    if platform == "woocommerce":
        return woocommerce.map_webhook(fixture["topic"], payload, settings)
    return stripe.map_event(payload, settings)


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "stripe"])
def test_payload_schemas_accept_real_payloads_and_require_what_the_mapping_needs(doc, platform):
    mapped_any = False
    shopify_any = component(doc, "ShopifyWebhook")
    for path in sorted((FIXTURES / platform).glob("*.input.json")):
        name = path.name.removesuffix(".input.json")
        fixture = json.loads(path.read_text(encoding="utf-8"))
        payload = fixture["payload"]
        validator = component(doc, schema_for(platform, name))
        assert validator.is_valid(payload), (name, next(validator.iter_errors(payload)).message)
        if platform == "shopify":
            assert shopify_any.is_valid(payload), name
        if not map_fixture(platform, fixture, payload).events:
            continue
        mapped_any = True
        # Every member the schema requires (for this payload) really is required by the mapping.
        required = {
            e.message.split("'")[1]
            for key in payload
            for e in validator.iter_errors({k: v for k, v in payload.items() if k != key})
            if e.validator == "required"
        }
        assert required, name
        for key in sorted(required):
            broken = copy.deepcopy(payload)
            del broken[key]
            with pytest.raises(PayloadError):
                map_fixture(platform, fixture, broken)
    assert mapped_any


# --- statuses the fuzzer does not reach, answered as documented ---------------------------------


def conforms(doc: dict[str, Any], path: str, method: str, response) -> None:
    """The answer's status is documented for the operation, its body and required headers are
    what the document says."""
    documented = doc["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, (path, method, status, response.get_data(as_text=True))
    spec = documented[status]
    for name, header in spec.get("headers", {}).items():
        if "$ref" in header:
            header = resolve(doc, header["$ref"])
        if header.get("required"):
            assert response.headers.get(name), (path, status, name)
    content = spec.get("content", {}).get("application/json")
    if content is None:
        assert not response.get_data(), (path, status)
        return
    assert response.mimetype == "application/json"
    validator = Draft202012Validator({**content["schema"], "components": doc["components"]})
    errors = [e.message for e in validator.iter_errors(response.get_json())]
    assert errors == [], (path, status, errors)


POSTS = [
    "/v1/events",
    "/v1/context",
    "/v1/webhooks/shopify",
    "/v1/webhooks/woocommerce",
    "/v1/webhooks/stripe",
    "/v1/deliver",
]


def small_plan(tmp_path: Path) -> Path:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8").replace(
        "    max_batch: 100\n",
        "    max_batch: 100\n    max_body_bytes: 4096\n    rate_limit_per_ip: 2/minute\n",
    )
    assert "rate_limit_per_ip: 2/minute" in text
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_limits_and_media_type_are_answered_as_documented(tmp_path, store):
    env = {**make_env(), "SGTM_PUSH_TOKEN": "push-token-for-tests"}
    app = create_app(
        Config(
            plan_path=str(small_plan(tmp_path)),
            environ=env,
            store=store,
            rate_limits=True,
            log_stream=io.StringIO(),
        )
    )
    doc = app.test_client().get("/openapi.json").get_json()
    client = app.test_client()
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    for path in POSTS:
        # The push endpoint authenticates first, then reads the body.
        url = path + "?token=push-token-for-tests" if path == "/v1/deliver" else path
        response = client.post(url, data=big, content_type="application/json")
        assert response.status_code == 413, path
        conforms(doc, path, "post", response)
    response = client.post("/v1/context", data=b"token=abc", content_type="text/plain")
    assert response.status_code == 415
    conforms(doc, "/v1/context", "post", response)
    response = client.post("/v1/deliver?token=wrong", json={"message": {"data": ""}})
    assert response.status_code == 401
    conforms(doc, "/v1/deliver", "post", response)
    response = client.options("/v1/context", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    conforms(doc, "/v1/context", "options", response)
    # Per-IP limit of 2 a minute on /v1/context (the webhooks have none on purpose).
    fresh = {"REMOTE_ADDR": "203.0.113.9"}  # the requests above came from 127.0.0.1
    answers = [
        client.post("/v1/context", json={"token": "c1-8a6f0e4c9b3d"}, environ_base=fresh)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    conforms(doc, "/v1/context", "post", answers[2])
    for _ in range(3):
        webhook = client.post("/v1/webhooks/stripe", data=b"{}", environ_base=fresh)
        assert webhook.status_code == 401


def test_push_without_authentication_configured_is_a_documented_403(app, client):
    # The conftest environment sets neither SGTM_PUSH_AUDIENCE nor SGTM_PUSH_TOKEN.
    response = client.post("/v1/deliver", json={"message": {"data": ""}})
    assert response.status_code == 403
    assert "SGTM_PUSH_TOKEN" in response.get_json()["error"]["message"]
    conforms(client.get("/openapi.json").get_json(), "/v1/deliver", "post", response)


def test_store_unavailable_is_a_503_with_retry_after(app, store, monkeypatch):
    from sidecar.store.base import StoreUnavailable
    from sidecar.verification import webhook_signatures as sig
    from tests.sidecar.conftest import Api

    def busy(*args, **kwargs):
        raise StoreUnavailable("outbox busy")

    monkeypatch.setattr(store, "enqueue", busy)
    monkeypatch.setattr(store, "put_context", busy)
    client = app.test_client()
    doc = client.get("/openapi.json").get_json()
    env = app.extensions["sgtm"].config.environ
    fixture = json.loads((FIXTURES / "shopify" / "paid_basic.input.json").read_text())
    body = json.dumps(fixture["payload"]).encode()
    response = client.post(
        "/v1/webhooks/shopify",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            sig.SHOPIFY_HEADER: sig.base64_hmac(env["SHOPIFY_WEBHOOK_SECRET"], body),
        },
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    conforms(doc, "/v1/webhooks/shopify", "post", response)
    api = Api(client, env)
    context = json.dumps({"token": "c1-8a6f0e4c9b3d"}).encode()
    response = client.post(
        "/v1/context",
        data=context,
        headers={
            "Content-Type": "application/json",
            "X-Sgtm-Signature": signing.sign_request(api.signing_keys, context),
        },
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    conforms(doc, "/v1/context", "post", response)


def test_stats_carries_the_join_counters_without_an_after_request_hook(app, client, api):
    # The webhook blueprint no longer rewrites other blueprints' answers.
    assert all(
        f.__module__ != "sidecar.api.webhooks" for f in app.after_request_funcs.get(None, [])
    )
    app.extensions["sgtm_webhooks"].counters.add("token")
    app.extensions["sgtm_webhooks"].counters.add_ignored()
    response = api.signed_get("/v1/stats")
    assert response.get_json()["webhooks"] == {
        "orders": 1,
        "joined": {"token": 1, "order": 0, "attributes": 0},
        "not_joined": 0,
        "join_rate": 1.0,
        "ignored_deliveries": 1,
    }
    conforms(client.get("/openapi.json").get_json(), "/v1/stats", "get", response)


def test_deeply_nested_push_body_is_a_400(tmp_path, store):
    env = {**make_env(), "SGTM_PUSH_TOKEN": "push-token-for-tests"}
    app = create_app(
        Config(plan_path=str(EXAMPLE_PLAN), environ=env, store=store, log_stream=io.StringIO())
    )
    response = app.test_client().post(
        "/v1/deliver?token=push-token-for-tests",
        data=b"[" * 100_000,
        content_type="application/json",
    )
    assert response.status_code == 400
