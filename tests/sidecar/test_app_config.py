"""Start-up, configuration, health, OpenAPI and the CLI helpers."""

from __future__ import annotations

import io
import os
import re

import pytest
from jsonschema import Draft202012Validator

from formats import signing
from formats.plan import load_plan
from sgtm.cli import main
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.errors import StartupError
from sidecar.store.base import StoreUnavailable
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import ORIGIN, envelope, make_env


def test_missing_secrets_are_all_named_in_one_message(tmp_path):
    env = make_env()
    # Destination credentials belong to the sGTM container, not the sidecar.
    del env["GA4_API_SECRET"], env["SHOPIFY_WEBHOOK_SECRET"], env["WEB_SIGNING_KEYS"]
    with pytest.raises(StartupError) as info:
        create_app(Config(plan_path=str(EXAMPLE_PLAN), environ=env, outbox=str(tmp_path / "o")))
    message = info.value.message
    assert message.startswith("2 secret environment variable(s)")
    assert "SHOPIFY_WEBHOOK_SECRET (named by sources.shopify.secret)" in message
    assert "GA4_API_SECRET" not in message
    assert "WEB_SIGNING_KEYS (named by sources.web.signing_keys)" in message
    assert not (tmp_path / "o").exists()  # nothing opened


def test_invalid_plan_is_refused_with_the_plan_report(tmp_path):
    bad = tmp_path / "plan.yaml"
    text = EXAMPLE_PLAN.read_text().replace("purposes: [ads]\n", "purposes: [adz]\n", 1)
    bad.write_text(text.replace("currency: EUR", "currency: euro", 1))
    with pytest.raises(StartupError) as info:
        create_app(Config(plan_path=str(bad), environ=make_env()))
    lines = info.value.message.splitlines()
    assert lines[0] == "the tracking plan is invalid:"
    assert len(lines) >= 3  # every problem, each as FILE:LINE:COL
    assert all(line.startswith(f"{bad}:") for line in lines[1:])


def test_a_keyset_that_cannot_be_used_is_refused_without_echoing_it(tmp_path):
    env = make_env()
    env["WEB_TOKEN_KEYS"] = '{"keys": {"k1": "c2hvcnQ="}}'
    with pytest.raises(StartupError) as info:
        create_app(Config(plan_path=str(EXAMPLE_PLAN), environ=env, outbox=str(tmp_path / "o")))
    assert "WEB_TOKEN_KEYS: /keys/k1: key is 5 bytes" in info.value.message
    assert "c2hvcnQ=" not in info.value.message


def test_config_from_env_reads_the_documented_variables():
    config = Config.from_env(
        {
            "SGTM_PLAN": "/app/plan.yaml",
            "SGTM_OUTBOX": "/data/o.sqlite",
            "SGTM_COLLECT_URL": "https://collect.example.com/s2s/events",
            "K_REVISION": "sidecar-00042",
            "GOOGLE_CLOUD_PROJECT": "acme",
            "SGTM_TRUSTED_PROXIES": "1",
            "SECRET_X": "value",
        }
    )
    assert (config.plan_path, config.outbox, config.revision) == (
        "/app/plan.yaml",
        "/data/o.sqlite",
        "sidecar-00042",
    )
    assert config.project_id == "acme" and config.trusted_proxies == 1
    assert "value" not in repr(config)


def test_config_from_env_lists_every_problem():
    with pytest.raises(StartupError) as info:
        Config.from_env({"SGTM_BACKEND": "mysql", "SGTM_TRUSTED_PROXIES": "x"})
    message = info.value.message
    assert "SGTM_PLAN is not set" in message
    assert "SGTM_BACKEND='mysql'" in message
    assert "SGTM_TRUSTED_PROXIES='x' is not an integer" in message


def test_health_and_readiness(client, store):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {
        "plan": "ok",
        "outbox_file": "ok",
        "outbox_writable": "ok",
        "outbox_free_space": "ok",
        "outbox_integrity": "ok",
    }
    store.min_free_bytes = 2**62  # more than any disk: the real check on the real file system
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    body = r.get_json()
    assert body["failing"] == ["outbox_free_space"]
    assert body["checks"]["outbox_free_space"].startswith("failed: ")
    assert "MiB free, below" in body["checks"]["outbox_free_space"]
    assert client.get("/healthz").status_code == 200


def test_readiness_names_a_replaced_outbox_without_its_path(client, store):
    import shutil

    copy = store.path + ".copy"
    shutil.copyfile(store.path, copy)
    os.replace(copy, store.path)  # same path, another file: what a restore or a bad mount does
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["failing"] == ["outbox_file", "outbox_writable"]
    assert "replaced while open" in body["checks"]["outbox_file"]
    assert store.path not in r.get_data(as_text=True)
    assert os.path.dirname(store.path) not in r.get_data(as_text=True)


def test_probes_answer_on_the_load_balancers_v1_paths_too(client, store, monkeypatch):
    # README's deploy check is https://collect.<domain>/v1/readyz; the same URL works locally.
    assert client.get("/v1/healthz").get_json() == {"status": "ok"}
    ready = client.get("/v1/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == client.get("/readyz").get_json()
    store.min_free_bytes = 2**62  # more than any disk
    assert client.get("/v1/readyz").status_code == 503


def test_outbox_unavailable_answers_503_with_retry_after(api, store, monkeypatch):
    def busy(records, window):
        raise StoreUnavailable("outbox busy")

    monkeypatch.setattr(store, "enqueue", busy)
    r = api.signed(envelope("u-1"))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert r.get_json()["error"]["code"] == "unavailable"


def test_stats_counts_requests_and_outcomes(api, client):
    api.signed(envelope("st-1"))
    api.signed(envelope("st-1"))
    api.signed([envelope("st-2"), envelope("st-3", schema=2)])
    stats = api.signed_get("/v1/stats").get_json()
    assert stats["revision"] == "local"
    assert (stats["accepted"], stats["duplicates"], stats["rejected"]) == (2, 1, 1)
    assert stats["requests"] == 4  # this one included
    assert stats["delivered"] == 0 and stats["delivery_failures"] == 0


def test_openapi_describes_every_endpoint_with_the_plan_schema(client, app):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/events", "/healthz", "/readyz", "/openapi.json", "/v1/stats"} <= set(doc["paths"])
    # Every registered endpoint is listed, also those other parts add (webhooks, delivery).
    routes = {
        re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", r.rule)
        for r in app.url_map.iter_rules()
        if r.endpoint != "static"
    }
    assert routes == set(doc["paths"])
    envelope_schema = doc["components"]["schemas"]["Envelope"]
    assert envelope_schema["properties"]["event_name"]["enum"] == [
        "view_item",
        "add_to_cart",
        "begin_checkout",
        "purchase",
        "refund",
        "newsletter_signup",
    ]
    # Self-contained: validate a real envelope against the document's own component.
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Envelope", "components": doc["components"]}
    )
    assert list(validator.iter_errors(envelope("oa-1"))) == []
    assert list(validator.iter_errors(envelope("oa-2", params={"currency": "EUR"})))


def test_sgtm_token_issues_a_token_the_sidecar_accepts(monkeypatch, capsys):
    env = make_env()
    monkeypatch.setenv("WEB_TOKEN_KEYS", env["WEB_TOKEN_KEYS"])
    assert main(["token", "--origin", ORIGIN, "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="t")
    check = signing.verify_token(keys, token, ORIGIN)
    assert check.ok and check.kid == "tk1"


def test_sgtm_token_errors_are_one_line(monkeypatch, capsys):
    monkeypatch.delenv("NOPE_KEYS", raising=False)
    assert main(["token", "--origin", ORIGIN, "--key-env", "NOPE_KEYS"]) == 1
    assert capsys.readouterr().err.strip() == (
        "sgtm token: NOPE_KEYS: not set; it must hold the keyset JSON"
    )
    monkeypatch.setenv("WEB_TOKEN_KEYS", make_env()["WEB_TOKEN_KEYS"])
    assert main(["token", "--origin", "not an origin"]) == 1


def test_sgtm_serve_refuses_to_start_naming_every_missing_secret(monkeypatch, capsys):
    for name in make_env():
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", str(EXAMPLE_PLAN), "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sgtm serve: refusing to start: 6 secret environment variable(s)")
    plan = load_plan(EXAMPLE_PLAN)
    for ref in plan.sidecar_secret_refs():
        assert ref.env in err
    assert "META_ACCESS_TOKEN" not in err


def test_app_factory_can_be_built_twice_without_duplicate_log_lines(config, store):
    stream = io.StringIO()
    for _ in range(2):
        app = create_app(
            Config(
                plan_path=config.plan_path,
                environ=config.environ,
                store=store,
                log_stream=stream,
            )
        )
    stream.truncate(0)
    stream.seek(0)
    app.test_client().post("/v1/events", json={})  # 401, logs nothing
    from tests.sidecar.conftest import Api

    Api(app.test_client(), dict(config.environ)).signed(envelope("twice-1"))
    audits = [x for x in stream.getvalue().splitlines() if "consent_decision" in x]
    assert len(audits) == 1
