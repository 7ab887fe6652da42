"""Webhook signatures against the vectors in protocols.md §5.4, plus edge cases from §5."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.verification import webhook_signatures as ws

# protocols.md §5.4 (bodies are exact bytes, no trailing newline)
SHOPIFY_VECTORS = [
    (
        "shpss_test_secret_123",
        b'{"id":820982911946154508,"name":"#1001","total_price":"59.00","currency":"EUR"}',
        "l6QdYOUEtCPzJJlwDSXOjE4I3yBlf08wqmtRCxa4WnE=",
    ),
    (
        "shpss_test_secret_123",
        b'{"id":5678901234567,"name":"#1042","total_price":"94.80","currency":"EUR",'
        b'"email":"jane.doe@example.com"}',
        "n0QMSsGi1pPX0du8IGwnh0i+RI7nq3OoHfprdHEkkWI=",
    ),
    (
        "hush",
        b'{"id":5001,"email":"jane@example.com"}',
        "a1T8DkNfRUsi4gbFM5R8gnZYaMhgoK922RstY6VnzA0=",
    ),
    (
        "test-webhook-secret",
        b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}',
        "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=",
    ),
]
WOO_VECTORS = [
    (
        "wc_whsec_example",
        b'{"id":727,"status":"processing","currency":"USD","total":"29.35"}',
        "wBa0YL7D+Y3yLlCHSkOEdQbxPaZuEeuoItCv6bqthRA=",
    ),
    (
        "wc_whsec_example",
        b'{"id":727,"permalink":"https:\\/\\/shop.example\\/"}',
        "VvdYBrBDpbV8InwQFXNsb+fi7DzQGgWutkNlJSvsT2o=",
    ),
]
STRIPE_VECTORS = [
    (
        "whsec_test_secret",
        1700000000,
        b'{"id":"evt_test_1","object":"event","type":"checkout.session.completed"}',
        "t=1700000000,v1=ca796b857b81e24d595a4c37abf88d2fafb533a32ede6ce4cfc9b0e892a35b08",
    ),
    (
        "whsec_5f3c2e",
        1718193807,
        b'{"id":"evt_1PQx","object":"event","type":"checkout.session.completed","data":'
        b'{"object":{"id":"cs_test_a1","amount_total":9480,"currency":"eur",'
        b'"payment_status":"paid"}}}',
        "t=1718193807,v1=1fc66a75d8303a9ac963437c50848e235a68272a39621a3c55790976f7a0d52f",
    ),
]


@pytest.mark.parametrize(("secret", "body", "header"), SHOPIFY_VECTORS)
def test_shopify_vectors(secret: str, body: bytes, header: str) -> None:
    assert ws.base64_hmac(secret, body) == header
    assert ws.verify_shopify([secret], header, body) == ws.WebhookCheck(True)
    assert ws.verify_shopify([secret], header, body + b" ").reason == "bad_signature"


@pytest.mark.parametrize(("secret", "body", "header"), WOO_VECTORS)
def test_woocommerce_vectors(secret: str, body: bytes, header: str) -> None:
    assert ws.verify_woocommerce([secret], header, body).ok
    assert ws.verify_woocommerce(["other"], header, body).reason == "bad_signature"


def test_woocommerce_escaped_slashes_must_not_be_reserialised() -> None:
    secret, body, header = WOO_VECTORS[1]
    unescaped = body.replace(b"\\/", b"/")
    assert ws.verify_woocommerce([secret], header, unescaped).reason == "bad_signature"


@pytest.mark.parametrize(("secret", "t", "body", "header"), STRIPE_VECTORS)
def test_stripe_vectors(secret: str, t: int, body: bytes, header: str) -> None:
    assert ws.stripe_header(secret, t, body) == header
    assert ws.verify_stripe([secret], header, body, now=t) == ws.WebhookCheck(True, None, t)


@pytest.mark.parametrize(
    ("skew", "reason"), [(-301, "future"), (-300, None), (300, None), (301, "stale")]
)
def test_stripe_tolerance_rejects_old_and_future(skew: int, reason: str | None) -> None:
    secret, t, body, header = STRIPE_VECTORS[0]
    assert ws.verify_stripe([secret], header, body, now=t + skew).reason == reason


def test_stripe_any_v1_and_any_secret_match_during_rotation() -> None:
    secret, t, body, header = STRIPE_VECTORS[0]
    other = ws.stripe_signature("whsec_old", t, body)
    rotated = f"t={t},v1={other},v0=deadbeef,v1={header.split('v1=')[1]},scheme9=x"
    assert ws.verify_stripe([secret], rotated, body, now=t).ok
    assert ws.verify_stripe(["whsec_old", "whsec_unused"], rotated, body, now=t).ok
    assert ws.verify_stripe(["whsec_unused"], rotated, body, now=t).reason == "bad_signature"


def test_shopify_accepts_old_and_new_secret_during_rotation() -> None:
    secret, body, header = SHOPIFY_VECTORS[0]
    assert ws.verify_shopify(["shpss_new", secret], header, body).ok


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("  ", "missing"),
        ("v1=" + "0" * 64, "malformed"),
        ("t=1700000000", "malformed"),
        ("t=1700000000,v0=" + "0" * 64, "malformed"),
        ("t=1700000000,t=1700000001,v1=" + "0" * 64, "malformed"),
        ("t=abc,v1=" + "0" * 64, "malformed"),
        ("t=1700000000,v1=XYZ", "malformed"),
        ("t=1700000000,v1", "malformed"),
        ("t=1700000000,v1=" + "0" * 64, "bad_signature"),
    ],
)
def test_stripe_header_problems(header: str | None, reason: str) -> None:
    _, t, body, _ = STRIPE_VECTORS[0]
    assert ws.verify_stripe(["whsec_test_secret"], header, body, now=t).reason == reason


def test_forged_stale_stripe_delivery_is_bad_signature() -> None:
    header = "t=1000,v1=" + "1" * 64
    assert ws.verify_stripe(["s"], header, b"{}", now=1700000000).reason == "bad_signature"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("not base64!", "malformed"),
        ("c2hvcnQ=", "malformed"),  # valid base64, but not 32 bytes
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "bad_signature"),
    ],
)
def test_base64_header_problems(header: str | None, reason: str) -> None:
    assert ws.verify_shopify(["hush"], header, b"{}").reason == reason
    assert ws.verify_woocommerce(["hush"], header, b"{}").reason == reason


def test_no_configured_secret_is_its_own_reason() -> None:
    secret, body, header = SHOPIFY_VECTORS[2]
    assert ws.verify_shopify([], header, body).reason == "no_secret"
    assert ws.verify_shopify([""], header, body).reason == "no_secret"
    assert ws.verify_stripe([], "t=1,v1=" + "0" * 64, body).reason == "no_secret"


def test_header_whitespace_is_tolerated() -> None:
    secret, body, header = SHOPIFY_VECTORS[2]
    assert ws.verify_shopify([secret], f" {header} ", body).ok


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"webhook_id=42", "application/x-www-form-urlencoded", 42),
        (b"webhook_id=42", "application/x-www-form-urlencoded; charset=UTF-8", 42),
        (b"webhook_id=42", "application/json", None),
        (b'{"webhook_id":42}', "application/json", None),
        (b"webhook_id=42&x=1", "application/x-www-form-urlencoded", None),
        (b"webhook_id=abc", "application/x-www-form-urlencoded", None),
        (b"webhook_id=1&webhook_id=2", "application/x-www-form-urlencoded", None),
        (b"webhook_id=42", None, None),
    ],
)
def test_woocommerce_ping_recognition(body: bytes, content_type: str | None, expected) -> None:
    assert ws.woocommerce_ping_id(body, content_type) == expected


@settings(deadline=None)
@given(st.binary(max_size=300), st.text(min_size=1, max_size=40), st.data())
def test_flipped_byte_never_verifies(body: bytes, secret: str, data: st.DataObject) -> None:
    header = ws.base64_hmac(secret, body)
    t = 1_700_000_000
    stripe = ws.stripe_header(secret, t, body)
    assert ws.verify_shopify([secret], header, body).ok
    assert ws.verify_stripe([secret], stripe, body, now=t).ok
    if not body:
        return
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flipped = bytearray(body)
    flipped[index] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    assert ws.verify_shopify([secret], header, bytes(flipped)).reason == "bad_signature"
    assert ws.verify_stripe([secret], stripe, bytes(flipped), now=t).reason == "bad_signature"
