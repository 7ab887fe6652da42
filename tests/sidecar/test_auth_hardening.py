"""Who may spend what (issue 13, findings 1, 7, 8, 9, 12): a key's rate limit is spent only by
requests that verified, browser tokens live no longer than the plan allows, nothing internal is
answered without credentials, Retry-After only on 429 and 503, and the server signature covers
the method and the path. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from formats import signing
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.errors import StartupError
from sidecar.store.base import StoreUnavailable
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import ORIGIN, Api, envelope


def plan_with(tmp_path: Path, extra: str) -> Path:
    """The example plan with web source settings added under ``max_batch``."""
    text = EXAMPLE_PLAN.read_text().replace("    max_batch: 100\n", "    max_batch: 100\n" + extra)
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def limited_api(tmp_path: Path, env: dict[str, str], store: Any, extra: str) -> Api:
    config = Config(plan_path=str(plan_with(tmp_path, extra)), environ=env, store=store)
    return Api(create_app(config).test_client(), env)


def from_ip(ip: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def bogus_browser(api: Api, ip: str, kid: str = "tk1"):
    forged = f"v1.{kid}.eyJleHAiOjF9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    return api.client.post(
        "/v1/events",
        data=json.dumps(envelope("bogus")),
        headers={
            "Content-Type": "application/json",
            "Origin": ORIGIN,
            "Authorization": f"Bearer {forged}",
        },
        **from_ip(ip),
    )


# --- 1. a key's budget is spent only by requests that prove they hold the key ---------------


def test_forged_tokens_claiming_a_key_do_not_spend_its_budget(tmp_path, sidecar_env, store):
    api = limited_api(tmp_path, sidecar_env, store, "    rate_limit_per_key: 3/minute\n")
    for n in range(8):
        assert bogus_browser(api, f"10.0.0.{n % 4 + 1}").status_code == 401
    # A real browser holding tk1 still gets through, three times (the key's budget).
    token = api.token()
    codes = [
        api.client.post(
            "/v1/events",
            data=json.dumps(envelope(f"real-{i}")),
            headers={
                "Content-Type": "application/json",
                "Origin": ORIGIN,
                "Authorization": f"Bearer {token}",
            },
            **from_ip("192.0.2.50"),
        ).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_forgeries_claiming_one_key_are_limited_in_a_larger_bucket(tmp_path, sidecar_env, store):
    # rate_limit_per_key 1/minute: the claimed-key bucket for failures is ten times that.
    api = limited_api(tmp_path, sidecar_env, store, "    rate_limit_per_key: 1/minute\n")
    codes = [bogus_browser(api, f"10.0.1.{n}").status_code for n in range(1, 13)]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    # Another claimed key id is another bucket.
    assert bogus_browser(api, "10.0.2.1", kid="tk9").status_code == 401


def test_unauthenticated_requests_are_limited_per_ip(tmp_path, sidecar_env, store):
    api = limited_api(tmp_path, sidecar_env, store, "    rate_limit_per_ip: 3/minute\n")
    codes = [bogus_browser(api, "10.0.3.1", kid=f"x{n}").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    assert bogus_browser(api, "10.0.3.2").status_code == 401


# --- 9. Retry-After only where a retry is what we ask for ------------------------------------


def test_retry_after_only_on_429_and_503(tmp_path, sidecar_env, store, monkeypatch):
    api = limited_api(tmp_path, sidecar_env, store, "    rate_limit_per_ip: 2/minute\n")
    ok = api.signed(envelope("ra-1"))
    assert ok.status_code == 200 and "Retry-After" not in ok.headers
    bad = api.signed(None, raw=b"{")
    assert bad.status_code == 400 and "Retry-After" not in bad.headers
    limited = api.signed(envelope("ra-3"))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_busy_outbox_503_says_the_documented_five_seconds(
    tmp_path, sidecar_env, store, monkeypatch
):
    api = limited_api(tmp_path, sidecar_env, store, "    rate_limit_per_ip: 2/minute\n")

    def busy(records, window):
        raise StoreUnavailable("outbox busy")

    monkeypatch.setattr(store, "enqueue", busy)
    r = api.signed(envelope("ra-4"))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"


# --- 7. browser tokens live no longer than the plan allows ----------------------------------


def test_a_token_longer_lived_than_the_plans_ttl_is_refused(api):
    long_lived = signing.issue_token(api.token_keys, ORIGIN, 10 * 365 * 86400)
    r = api.browser(envelope("ttl-1"), token=long_lived)
    assert r.status_code == 401
    assert "lifetime" in r.get_json()["error"]["message"]
    assert api.browser(envelope("ttl-2"), token=api.token(ttl=900)).status_code == 200


# --- 8. nothing internal in unauthenticated answers; /v1/stats needs the server credential --


def test_readiness_names_no_path_and_no_version(client, store, monkeypatch):
    ready = client.get("/readyz").get_json()
    assert "1.0.0" not in json.dumps(ready)
    # A real storage fault whose exception text holds the path: a file replaced while open.
    copy = str(store.path) + ".copy"
    shutil.copyfile(store.path, copy)
    os.replace(copy, store.path)
    r = client.get("/readyz")
    assert r.status_code == 503
    text = r.get_data(as_text=True)
    assert str(store.path) not in text and os.path.dirname(str(store.path)) not in text
    assert "sqlite" not in text and all("/" not in v for v in r.get_json()["checks"].values())


def test_stats_needs_the_server_credential(api, client):
    assert client.get("/v1/stats").status_code == 401
    browser = client.get(
        "/v1/stats", headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.token()}"}
    )
    assert browser.status_code == 401
    r = api.signed_get("/v1/stats")
    assert r.status_code == 200
    assert "requests" in r.get_json()


# --- 12. the server signature covers method and path ----------------------------------------


def test_v2_signature_verifies_and_binds_the_path(api, store):
    body = json.dumps(envelope("v2-1")).encode()
    header = signing.sign_request_v2(api.signing_keys, "POST", "/v1/events", body)
    assert ",v2=" in header
    ok = api.client.post(
        "/v1/events",
        data=body,
        headers={"Content-Type": "application/json", signing.SIGNATURE_HEADER: header},
    )
    assert ok.status_code == 200, ok.get_json()
    # The same signature made for another path does not verify here.
    other = signing.sign_request_v2(api.signing_keys, "POST", "/v1/context", body)
    r = api.client.post(
        "/v1/events",
        data=body,
        headers={"Content-Type": "application/json", signing.SIGNATURE_HEADER: other},
    )
    assert r.status_code == 401


def test_v2_mac_is_over_timestamp_method_path_and_body():
    keys = signing.parse_keyset(signing.generate_keyset("sk1"), source="t")
    header = signing.sign_request_v2(keys, "POST", "/v1/events", b"{}", now=1_700_000_000)
    import hashlib
    import hmac

    mac = hmac.new(keys.active_key, b"1700000000.POST./v1/events.{}", hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,kid=sk1,v2={mac}"
    check = signing.verify_request(
        keys, header, b"{}", now=1_700_000_000, method="POST", path="/v1/events"
    )
    assert check.ok
    assert not signing.verify_request(
        keys, header, b"{}", now=1_700_000_000, method="GET", path="/v1/events"
    ).ok


def test_v1_signatures_can_be_switched_off_once_senders_moved(tmp_path, sidecar_env, store):
    from dataclasses import replace

    config = Config(
        plan_path=str(EXAMPLE_PLAN), environ=sidecar_env, store=store, rate_limits=False
    )
    app = create_app(replace(config, signature_versions=("v2",)))
    api = Api(app.test_client(), sidecar_env)
    r = api.signed(envelope("v1-1"))
    assert r.status_code == 401
    assert "v2" in r.get_json()["error"]["message"]
    assert Config.from_env(
        {"SGTM_PLAN": "p", "SGTM_SIGNATURE_VERSIONS": "v2"}
    ).signature_versions == ("v2",)
    with pytest.raises(StartupError):
        Config.from_env({"SGTM_PLAN": "p", "SGTM_SIGNATURE_VERSIONS": "v3"})
