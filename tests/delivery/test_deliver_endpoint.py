"""POST /v1/deliver, the authenticated Pub/Sub push endpoint, end to end through the app."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest

from formats import signing
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.store.sqlite import SqliteStore
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import Api, envelope, make_env

PUSH_TOKEN = "push-token-for-tests-only"


def push_body(event_id: str) -> dict:
    data = base64.b64encode(json.dumps({"event_id": event_id}).encode()).decode()
    return {
        "message": {"data": data, "messageId": "1"},
        "subscription": "projects/p/subscriptions/s",
    }


@pytest.fixture
def env():
    return make_env()


@pytest.fixture
def app_store(tmp_path):
    s = SqliteStore(tmp_path / "outbox.sqlite", synchronous="NORMAL")
    yield s
    s.close()


def build(env, store, httpserver, **extra):
    config = Config(
        plan_path=str(EXAMPLE_PLAN),
        environ={**env, **extra},
        store=store,
        collect_url=httpserver.url_for("/s2s/events"),
        rate_limits=False,
    )
    return create_app(config).test_client()


@pytest.fixture
def fake(sgtm, env):
    sgtm.keyset = signing.parse_keyset(env["SGTM_DELIVERY_KEYS"], source="test")
    sgtm.clock = time.time
    return sgtm


def _accept(client, env, event_id):
    resp = Api(client, env).signed(envelope(event_id, timestamp=int(time.time() * 1000)))
    assert resp.status_code in (200, 202), resp.get_json()


def test_push_delivers_and_acks(env, app_store, httpserver, fake):
    client = build(env, app_store, httpserver, SGTM_PUSH_TOKEN=PUSH_TOKEN)
    _accept(client, env, "ord-1")
    queued = app_store.ledger("ord-1")
    assert queued.status == "queued"
    resp = client.post(f"/v1/deliver?token={PUSH_TOKEN}", json=push_body("ord-1"))
    assert resp.status_code == 204
    entry = app_store.ledger("ord-1")
    assert entry.status == "delivered"
    assert {d for d, _ in fake.delivered} == set(queued.destinations)
    # Pub/Sub delivers at least once: a second push of the same message sends nothing again.
    assert (
        client.post(f"/v1/deliver?token={PUSH_TOKEN}", json=push_body("ord-1")).status_code == 204
    )
    assert set(fake.seen.values()) == {1}


def test_pending_destination_nacks_with_503(env, app_store, httpserver, fake):
    fake.script["meta"] = lambda _e, _n: "failure"
    client = build(env, app_store, httpserver, SGTM_PUSH_TOKEN=PUSH_TOKEN)
    _accept(client, env, "ord-2")
    resp = client.post(f"/v1/deliver?token={PUSH_TOKEN}", json=push_body("ord-2"))
    # The example client_id is inside meta's 50% rollout bucket (rollout.py is deterministic).
    assert resp.status_code == 503
    assert resp.get_json()["pending"] == ["meta"]


def test_unknown_event_is_acked(env, app_store, httpserver, fake):
    client = build(env, app_store, httpserver, SGTM_PUSH_TOKEN=PUSH_TOKEN)
    assert client.post(f"/v1/deliver?token={PUSH_TOKEN}", json=push_body("nope")).status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "body is not JSON"),
        ({"msg": {}}, "/message: expected the Pub/Sub push object"),
        ({"message": {"data": 5}}, "/message/data: expected a base64 string"),
        ({"message": {"data": "%%%"}}, "/message/data: expected base64"),
        (
            {"message": {"data": base64.b64encode(b'{"event_id": ""}').decode()}},
            "/message/data: event_id: expected a non-empty string",
        ),
    ],
)
def test_bad_push_bodies_name_the_field(env, app_store, httpserver, fake, body, message):
    client = build(env, app_store, httpserver, SGTM_PUSH_TOKEN=PUSH_TOKEN)
    raw = body if isinstance(body, str) else json.dumps(body)
    resp = client.post(f"/v1/deliver?token={PUSH_TOKEN}", data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert message in resp.get_json()["error"]["message"]


def test_push_needs_authentication(env, app_store, httpserver, fake):
    open_client = build(env, app_store, httpserver)
    resp = open_client.post("/v1/deliver", json=push_body("x"))
    assert resp.status_code == 403 and "SGTM_PUSH_TOKEN" in resp.get_json()["error"]["message"]
    client = build(env, app_store, httpserver, SGTM_PUSH_TOKEN=PUSH_TOKEN)
    assert client.post("/v1/deliver?token=wrong", json=push_body("x")).status_code == 401
    assert client.post("/v1/deliver", json=push_body("x")).status_code == 401


# -- OIDC, with a locally minted Google-style certificate and token ------------------------------


@pytest.fixture
def oidc(httpserver):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from google.auth import crypt, jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    httpserver.expect_request("/oauth2/v1/certs").respond_with_json({"kid1": pem_cert})
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    signer = crypt.RSASigner.from_string(pem_key, key_id="kid1")

    def mint(audience: str, email: str = "push@p.iam.gserviceaccount.com") -> str:
        t = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "iat": t,
            "exp": t + 300,
            "email": email,
            "email_verified": True,
            "sub": "1",
        }
        return jwt.encode(signer, claims).decode()

    return mint, httpserver.url_for("/oauth2/v1/certs")


def test_push_with_oidc_token(env, app_store, httpserver, fake, oidc):
    mint, certs_url = oidc
    aud = "https://sidecar.example.com/v1/deliver"
    client = build(
        env,
        app_store,
        httpserver,
        SGTM_PUSH_AUDIENCE=aud,
        SGTM_PUSH_CERTS_URL=certs_url,
        SGTM_PUSH_SERVICE_ACCOUNT="push@p.iam.gserviceaccount.com",
    )
    _accept(client, env, "ord-3")
    ok = client.post(
        "/v1/deliver", json=push_body("ord-3"), headers={"Authorization": f"Bearer {mint(aud)}"}
    )
    assert ok.status_code == 204
    wrong_aud = client.post(
        "/v1/deliver",
        json=push_body("ord-3"),
        headers={"Authorization": f"Bearer {mint('https://other')}"},
    )
    assert wrong_aud.status_code == 401
    assert "OIDC token rejected" in wrong_aud.get_json()["error"]["message"]
    wrong_sa = client.post(
        "/v1/deliver",
        json=push_body("ord-3"),
        headers={"Authorization": f"Bearer {mint(aud, 'evil@x.com')}"},
    )
    assert wrong_sa.status_code == 401
    assert client.post("/v1/deliver", json=push_body("ord-3")).status_code == 401
