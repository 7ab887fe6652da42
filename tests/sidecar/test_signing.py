"""Keysets, X-Sgtm-Signature and browser tokens (formats.signing)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats import signing

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
NOW = 1_732_870_000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _keyset_json(**keys: bytes) -> str:
    return json.dumps({"keys": {kid: _b64(key) for kid, key in keys.items()}})


KEYSET = signing.parse_keyset(_keyset_json(a=KEY_A, b=KEY_B), source="TEST_KEYS")


# --- keysets --------------------------------------------------------------------------------


def test_first_key_is_active_unless_named() -> None:
    assert KEYSET.active_kid == "a"
    assert KEYSET.active_key == KEY_A
    other = signing.parse_keyset(_keyset_json(a=KEY_A, b=KEY_B), source="X", active_kid="b")
    assert other.active_kid == "b"


def test_keyset_from_env_reads_active_key_id() -> None:
    env = {"SGTM_DELIVERY_KEYS": _keyset_json(a=KEY_A, b=KEY_B), "SGTM_ACTIVE_KEY_ID": "b"}
    assert signing.keyset_from_env("SGTM_DELIVERY_KEYS", env).active_kid == "b"


def test_repr_never_shows_key_material() -> None:
    assert _b64(KEY_A) not in repr(KEYSET)
    assert repr(KEY_A) not in repr(KEYSET)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"^K: empty; expected JSON"),
        ("   ", r"^K: empty"),
        ("{", r"^K: not valid JSON at line 1 column 2"),
        ("[]", r'^K: /: expected an object with a "keys" member$'),
        ('{"keys": {}, "extra": 1}', r'^K: /extra: unknown member; only "keys" is allowed$'),
        ('{"key": {}}', r"^K: /key: unknown member"),
        ("{}", r"^K: /keys: expected an object of key id -> base64 key$"),
        ('{"keys": []}', r"^K: /keys: expected an object"),
        ('{"keys": {}}', r"^K: /keys: no keys; at least one is needed$"),
        ('{"keys": {"k1": 5}}', r"^K: /keys/k1: expected a base64 string$"),
        ('{"keys": {"k1": "not base64!"}}', r"^K: /keys/k1: not valid base64$"),
        ('{"keys": {"k1": "c2hvcnQ="}}', r"^K: /keys/k1: key is 5 bytes; at least 32 are needed$"),
        ('{"keys": {"a/b.c": "x"}}', r"^K: /keys/a~1b\.c: key id must be 1-64 characters"),
        ('{"keys": {"": "x"}}', r"^K: /keys/: key id must be"),
    ],
)
def test_bad_keysets_name_the_place(text: str | None, message: str) -> None:
    with pytest.raises(signing.KeysetError, match=message):
        signing.parse_keyset(text, source="K")


def test_duplicate_key_ids_and_unknown_active_key_are_errors() -> None:
    dup = f'{{"keys": {{"a": "{_b64(KEY_A)}", "a": "{_b64(KEY_B)}"}}}}'
    with pytest.raises(signing.KeysetError, match=r"^K: key id 'a' appears twice$"):
        signing.parse_keyset(dup, source="K")
    with pytest.raises(
        signing.KeysetError, match=r"active key id 'c' is not in /keys \(have: a, b\)"
    ):
        signing.parse_keyset(_keyset_json(a=KEY_A, b=KEY_B), source="K", active_kid="c")
    with pytest.raises(signing.KeysetError, match=r"^SGTM_DELIVERY_KEYS: not set"):
        signing.keyset_from_env("SGTM_DELIVERY_KEYS", {})


def test_generated_keyset_loads() -> None:
    keyset = signing.parse_keyset(signing.generate_keyset("k9"), source="G")
    assert keyset.active_kid == "k9"
    assert len(keyset.active_key) == 32


# --- request signatures ---------------------------------------------------------------------


def test_signature_matches_the_documented_construction() -> None:
    body = b'{"schema":1,"events":[]}'
    header = signing.sign_request(KEYSET, body, now=NOW)
    expected = hmac.new(KEY_A, f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},kid=a,v1={expected}"
    assert signing.verify_request(KEYSET, header, body, now=NOW) == signing.SignatureCheck(
        True, None, "a"
    )


def test_any_key_in_the_set_verifies_for_rotation() -> None:
    old = signing.parse_keyset(_keyset_json(b=KEY_B), source="OLD")
    header = signing.sign_request(old, b"x", now=NOW)
    assert signing.verify_request(KEYSET, header, b"x", now=NOW).ok


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("garbage", "malformed"),
        ("t=1,kid=a", "malformed"),
        ("t=1,t=2,kid=a,v1=" + "0" * 64, "malformed"),
        ("t=-5,kid=a,v1=" + "0" * 64, "malformed"),
        ("t=1,kid=a,v1=" + "0" * 63, "malformed"),
        ("t=1,kid=a,v1=" + "A" * 64, "malformed"),
        ("t=1,,kid=a,v1=" + "0" * 64, "malformed"),
        ("t=1,kid=zz,v1=" + "0" * 64, "unknown_key"),
        (f"t={NOW},kid=a,v1=" + "0" * 64, "bad_signature"),
    ],
)
def test_request_rejections_have_distinct_reasons(header: str | None, reason: str) -> None:
    assert signing.verify_request(KEYSET, header, b"{}", now=NOW).reason == reason


@pytest.mark.parametrize(
    ("skew", "reason"),
    [(-301, "stale"), (-300, None), (0, None), (300, None), (301, "future")],
)
def test_tolerance_is_300_seconds_both_ways(skew: int, reason: str | None) -> None:
    header = signing.sign_request(KEYSET, b"{}", now=NOW + skew)
    check = signing.verify_request(KEYSET, header, b"{}", now=NOW)
    assert check.reason == reason
    assert check.ok is (reason is None)


def test_forged_old_request_is_bad_signature_not_stale() -> None:
    header = f"t={NOW - 10_000},kid=a,v1=" + "1" * 64
    assert signing.verify_request(KEYSET, header, b"{}", now=NOW).reason == "bad_signature"


@settings(deadline=None)
@given(st.binary(max_size=512), st.integers(min_value=0, max_value=10**12 - 1))
def test_sign_verify_round_trip(body: bytes, now: int) -> None:
    header = signing.sign_request(KEYSET, body, now=now)
    assert signing.verify_request(KEYSET, header, body, now=now).ok


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=256), st.data())
def test_a_flipped_body_byte_never_verifies(body: bytes, data: st.DataObject) -> None:
    header = signing.sign_request(KEYSET, body, now=NOW)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    flipped = bytearray(body)
    flipped[index] ^= 1 << bit
    assert signing.verify_request(KEYSET, header, bytes(flipped), now=NOW).reason == "bad_signature"


# --- browser tokens -------------------------------------------------------------------------

ORIGIN = "https://shop.example.com"


def test_token_layout_matches_the_contract() -> None:
    token = signing.issue_token(KEYSET, ORIGIN, ttl=600, now=NOW)
    version, kid, payload, mac = token.split(".")
    assert (version, kid) == ("v1", "a")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims == {"origin": ORIGIN, "exp": NOW + 600, "iat": NOW}
    expected = hmac.new(KEY_A, f"v1.a.{payload}".encode(), hashlib.sha256).digest()
    assert mac == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    check = signing.verify_token(KEYSET, token, ORIGIN, now=NOW + 599)
    assert check == signing.TokenCheck(True, None, "a", ORIGIN, NOW + 600)


def test_token_origin_is_compared_normalised() -> None:
    token = signing.issue_token(KEYSET, "https://Shop.Example.com/", ttl=60, now=NOW)
    assert signing.verify_token(KEYSET, token, "https://shop.example.com", now=NOW).ok


def _resign(payload_claims: dict, kid: str = "a", key: bytes = KEY_A) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(payload_claims).encode()).rstrip(b"=").decode()
    mac = hmac.new(key, f"v1.{kid}.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{kid}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    ("token", "origin", "now", "reason"),
    [
        (None, ORIGIN, NOW, "missing"),
        ("", ORIGIN, NOW, "missing"),
        ("v1.a.b", ORIGIN, NOW, "malformed"),
        ("v2.a.e30.AAAA", ORIGIN, NOW, "malformed"),
        ("v1.a.e30.!!!", ORIGIN, NOW, "malformed"),
        ("v1.zz.e30.AAAA", ORIGIN, NOW, "unknown_key"),
        ("v1.a.e30.AAAA", ORIGIN, NOW, "bad_signature"),
        (_resign({"origin": ORIGIN}), ORIGIN, NOW, "malformed"),
        (_resign({"origin": ORIGIN, "exp": True, "iat": NOW}), ORIGIN, NOW, "malformed"),
        (_resign({"origin": "shop", "exp": NOW + 9, "iat": NOW}), ORIGIN, NOW, "malformed"),
        (_resign({"origin": ORIGIN, "exp": NOW, "iat": NOW - 9}), ORIGIN, NOW, "expired"),
        (_resign({"origin": ORIGIN, "exp": NOW + 999, "iat": NOW + 301}), ORIGIN, NOW, "future"),
        (
            _resign({"origin": ORIGIN, "exp": NOW + 9, "iat": NOW}),
            "https://evil.example",
            NOW,
            "wrong_origin",
        ),
        (_resign({"origin": ORIGIN, "exp": NOW + 9, "iat": NOW}), None, NOW, "wrong_origin"),
        (
            _resign({"origin": ORIGIN, "exp": NOW + 9, "iat": NOW}, key=KEY_B),
            ORIGIN,
            NOW,
            "bad_signature",
        ),
    ],
)
def test_token_rejections_have_distinct_reasons(token, origin, now, reason) -> None:
    assert signing.verify_token(KEYSET, token, origin, now=now).reason == reason


def test_bearer_header_parsing() -> None:
    assert signing.token_from_authorization("Bearer v1.a.b.c") == "v1.a.b.c"
    assert signing.token_from_authorization("bearer  v1.a.b.c ") == "v1.a.b.c"
    assert signing.token_from_authorization("Basic abc") is None
    assert signing.token_from_authorization("Bearer ") is None
    assert signing.token_from_authorization(None) is None


@pytest.mark.parametrize(
    ("origin", "ttl"), [("shop.example.com", 60), ("https://x.example/path", 60), (ORIGIN, 0)]
)
def test_issuing_refuses_bad_arguments(origin: str, ttl: int) -> None:
    with pytest.raises(ValueError):
        signing.issue_token(KEYSET, origin, ttl=ttl, now=NOW)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=0, max_value=10**12 - 1))
def test_token_round_trip(ttl: int, now: int) -> None:
    token = signing.issue_token(KEYSET, ORIGIN, ttl=ttl, now=now)
    assert signing.verify_token(KEYSET, token, ORIGIN, now=now + ttl - 1).ok
    assert signing.verify_token(KEYSET, token, ORIGIN, now=now + ttl).reason == "expired"


@settings(deadline=None)
@given(st.data())
def test_a_flipped_token_character_never_verifies(data: st.DataObject) -> None:
    token = signing.issue_token(KEYSET, ORIGIN, ttl=60, now=NOW)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("AZaz09-_.x"))
    if replacement == token[index]:
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    assert not signing.verify_token(KEYSET, tampered, ORIGIN, now=NOW).ok
