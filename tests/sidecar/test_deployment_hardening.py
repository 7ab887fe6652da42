"""How the sidecar is run (issue 13, findings 3 and 11): forwarded headers are honoured only
at the configured hop, the image trusts none, and every keyset is checked before gunicorn
forks. Each test failed before its fix (gunicorn's own log lines: test_gunicorn_hardening.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.app import create_app
from sidecar.config import Config, load
from sidecar.errors import StartupError
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import Api, envelope, outbox_rows

# --- 3. forwarded headers: only from the configured hops, counted from the right ------------


def test_no_forwarded_header_is_trusted_by_default():
    assert Config.from_env({"SGTM_PLAN": "p.yaml"}).trusted_proxies == 0


def test_the_image_trusts_no_proxy_unless_the_deployment_says_so():
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert "SGTM_TRUSTED_PROXIES=1" not in dockerfile
    assert "SGTM_TRUSTED_PROXIES=0" in dockerfile


@pytest.mark.parametrize(
    ("hops", "header", "expected"),
    [
        (0, "8.8.8.8", "127.0.0.1"),  # nothing trusted: the peer
        (1, "8.8.8.8", "8.8.8.8"),  # Cloud Run's front end appended the client
        (1, "8.8.8.8, 203.0.113.9", "203.0.113.9"),  # a spoofed first value is ignored
        (2, "8.8.8.8, 203.0.113.9, 34.120.0.1", "203.0.113.9"),  # load balancer + front end
    ],
)
def test_the_client_ip_is_taken_at_the_configured_hop_from_the_right(
    config, hops, header, expected
):
    from dataclasses import replace

    app = create_app(replace(config, trusted_proxies=hops))
    api = Api(app.test_client(), config.environ)
    r = api.browser(envelope("ip-1"), headers={"X-Forwarded-For": header})
    assert r.status_code == 200, r.get_json()
    (row,) = outbox_rows(config.store)
    assert row["envelope"]["destinations"]["meta"]["ip"] == expected


def test_gunicorn_binds_loopback_unless_told(monkeypatch):
    import importlib

    import sidecar.gunicorn_conf as conf

    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.setenv("SGTM_TRUSTED_PROXIES", "0")
    reloaded = importlib.reload(conf)
    assert reloaded.bind.startswith("127.0.0.1:")
    assert reloaded.forwarded_allow_ips == ""
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("SGTM_TRUSTED_PROXIES", "1")
    reloaded = importlib.reload(conf)
    assert reloaded.bind.startswith("0.0.0.0:")
    assert reloaded.forwarded_allow_ips == "*"


# --- 11. every keyset is checked before gunicorn forks --------------------------------------


def test_a_bad_keyset_is_a_startup_error_of_load(sidecar_env, tmp_path):
    env = dict(sidecar_env, WEB_TOKEN_KEYS='{"keys": {"tk1": "c2hvcnQ="}}')
    with pytest.raises(StartupError) as caught:
        load(Config(plan_path=str(EXAMPLE_PLAN), environ=env))
    assert "WEB_TOKEN_KEYS: /keys/tk1" in caught.value.message
    assert "c2hvcnQ=" not in caught.value.message


def test_a_bad_delivery_keyset_is_a_startup_error_of_load(sidecar_env):
    env = dict(sidecar_env, SGTM_DELIVERY_KEYS="not json")
    with pytest.raises(StartupError) as caught:
        load(Config(plan_path=str(EXAMPLE_PLAN), environ=env))
    assert "SGTM_DELIVERY_KEYS" in caught.value.message
