"""The generated container served by `sgtm dev` (the local runtime) end to end: a signed batch
reaches every destination's stand-in, outcomes come back per destination, and a bad signature
runs nothing."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer

from runtime.dev import serve

KEY_ID = "delivery-1"
KEY = b"e2e-delivery-key-0123456789abcdef"
CRM_KEY = b"e2e-crm-signing-key-0123456789abc"
HOSTS = (
    "region1.google-analytics.com",
    "www.google-analytics.com",
    "graph.facebook.com",
    "googleads.googleapis.com",
    "crm.acme-home.example",
)
HASH = "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11"


def configured_export(files: dict[str, str]) -> dict:
    """The export as a user leaves it after import: the Ads account and action filled in (the
    Ads request itself is covered by the template's scenarios: see the result below)."""
    export = json.loads(files["container.json"])
    for tag in export["containerVersion"]["tag"]:
        params = {p["key"]: p for p in tag["parameter"]}
        if params["destinationName"]["value"] == "google_ads":
            params["customerId"]["value"] = "123-456-7890"
            params["developerToken"]["value"] = "dev-token"
            params["eventMap"]["list"][0]["map"][1]["value"] = "987654321"
    return export


def event(event_id: str, consent: dict, destinations: dict) -> dict:
    now = int(time.time() * 1000)
    return {
        "event_name": "purchase",
        "event_id": event_id,
        "timestamp": now - 5000,
        "client_id": "1234567890.1732860000",
        "consent": consent,
        "params": {
            "transaction_id": event_id,
            "value": 59.9,
            "currency": "EUR",
            "payment_type": "card",
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95}],
        },
        "context": {
            "page_location": "https://shop.acme-home.example/checkout",
            "ip": "203.0.113.7",
            "user_agent": "pytest",
        },
        "destinations": destinations,
    }


ALL_DESTINATIONS = {
    "ga4": {"user_data": {}, "ip": None, "user_agent": None, "anonymized": True},
    "meta": {"user_data": {"em": HASH}, "ip": "203.0.113.7", "user_agent": "pytest"},
    "google_ads": {"user_data": {"sha256_email_address": HASH}, "ip": None, "user_agent": None},
    "warehouse": {"user_data": {}, "ip": None, "user_agent": None},
    "crm": {"user_data": {"sha256_email_address": HASH}, "ip": None, "user_agent": None},
}


def signed(body: bytes, key: bytes = KEY, t: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if t is None else t)
    digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Sgtm-Signature": f"t={stamp},kid={KEY_ID},v1={digest}",
        "Content-Type": "application/json",
    }


@pytest.fixture
def server(files, httpserver: HTTPServer, tmp_path: Path, monkeypatch):
    keyfile = tmp_path / "keys.json"
    keys = {KEY_ID: KEY, "crm-1": CRM_KEY}
    keyfile.write_text(
        json.dumps({"keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}})
    )
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keyfile))
    monkeypatch.setenv("META_ACCESS_TOKEN", "meta-token")
    monkeypatch.setenv("GA4_API_SECRET", "ga4-secret")
    monkeypatch.setenv("CRM_WEBHOOK_TOKEN", "crm-token")
    container = tmp_path / "container.json"
    container.write_text(json.dumps(configured_export(files)), encoding="utf-8")
    httpserver.expect_request("").respond_with_json({"events_received": 1})
    base = httpserver.url_for("/").rstrip("/")
    with serve(container, routes=dict.fromkeys(HOSTS, base), log=lambda _line: None).start() as dev:
        yield dev


def sent(httpserver: HTTPServer) -> dict[str, list]:
    out: dict[str, list] = {}
    for request, _ in httpserver.log:
        out.setdefault(request.headers.get("X-Sgtm-Original-Host"), []).append(request)
    return out


def test_a_signed_batch_reaches_every_destination(server, httpserver: HTTPServer) -> None:
    granted = {"analytics": True, "ads": True, "functional": True}
    no_ads = {"analytics": True, "ads": False, "functional": True}
    broken = event("ord-3", granted, {})
    del broken["timestamp"]
    batch = {
        "schema": 1,
        "sent_at": int(time.time() * 1000),
        "events": [
            event("ord-1", granted, copy.deepcopy(ALL_DESTINATIONS)),
            event(
                "ord-2", no_ads, {"ga4": ALL_DESTINATIONS["ga4"], "meta": ALL_DESTINATIONS["meta"]}
            ),
            broken,
        ],
    }
    body = json.dumps(batch).encode()
    answer = requests.post(server.url + "/s2s/events", data=body, headers=signed(body), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "results": [
            {
                "event_id": "ord-1",
                "destinations": {
                    "crm": "success",
                    "ga4": "success",
                    # The local runtime refuses getGoogleAuth credentials, so the Ads tag ends
                    # in an exception there: which must come back as a failure to retry.
                    "google_ads": "failure",
                    "meta": "success",
                    "warehouse": "success",
                },
            },
            {
                # Tags of destinations this delivery did not ask for skip themselves.
                "event_id": "ord-2",
                "destinations": {
                    "crm": "skipped_not_requested",
                    "ga4": "success",
                    "google_ads": "skipped_not_requested",
                    "meta": "skipped_no_consent",
                    "warehouse": "skipped_not_requested",
                },
            },
        ],
        "errors": [
            {
                "index": 2,
                "field": "events[2].timestamp",
                "message": "must be milliseconds since the epoch",
                "event_id": "ord-3",
            }
        ],
    }
    by_host = sent(httpserver)
    meta = by_host["graph.facebook.com"]
    assert len(meta) == 1, "the event without ads consent must not reach Meta"
    assert meta[0].path == "/v27.0/123456789012345/events"
    assert meta[0].args["access_token"] == "meta-token"
    server_event = meta[0].get_json()["data"][0]
    assert server_event["event_name"] == "Purchase" and server_event["event_id"] == "ord-1"
    assert server_event["user_data"]["em"] == [HASH]
    ga4 = by_host["region1.google-analytics.com"]
    assert len(ga4) == 2 and ga4[0].path == "/mp/collect"
    assert (
        ga4[0].args["measurement_id"] == "G-ACME12345" and ga4[0].args["api_secret"] == "ga4-secret"
    )
    assert ga4[0].get_json()["events"][0]["params"]["transaction_id"] == "ord-1"
    assert "googleads.googleapis.com" not in by_host
    crm = by_host["crm.acme-home.example"]
    assert crm[0].headers["Authorization"] == "Bearer crm-token"
    assert crm[0].get_json()["event_name"] == "order_paid"
    # The receiver's side of docs/destinations.md: the idempotency key, and the signature
    # verified with nothing but the shared key, the raw body and hmac.
    assert crm[0].headers["Idempotency-Key"] == '"crm:ord-1"'
    fields = dict(part.split("=", 1) for part in crm[0].headers["X-Sgtm-Signature"].split(","))
    assert fields["kid"] == "crm-1" and abs(int(fields["t"]) - time.time()) < 300
    expected = hmac.new(
        CRM_KEY, fields["t"].encode() + b"." + crm[0].get_data(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])
    rows = server.runtime.env.bigquery["acme-analytics-eu.sgtm_events.events_v1"]
    assert [r["event_id"] for r in rows] == ["ord-1"]


def test_bad_signatures_run_nothing(server, httpserver: HTTPServer) -> None:
    batch = {"schema": 1, "sent_at": 0, "events": [event("ord-9", {"ads": True}, ALL_DESTINATIONS)]}
    body = json.dumps(batch).encode()
    cases = {
        "mismatch": signed(body, key=b"someone-elses-key"),
        "stale": signed(body, t=int(time.time()) - 301),
        "missing": {"Content-Type": "application/json"},
    }
    for reason, headers in cases.items():
        answer = requests.post(server.url + "/s2s/events", data=body, headers=headers, timeout=30)
        assert answer.status_code == 401, reason
        assert answer.json() == {"error": "unauthorized", "reason": reason}
    tampered = body.replace(b"59.9", b"0.01")
    answer = requests.post(
        server.url + "/s2s/events", data=tampered, headers=signed(body), timeout=30
    )
    assert answer.status_code == 401
    assert httpserver.log == []
    assert server.runtime.env.bigquery == {}


def test_other_requests_are_left_to_other_clients(server) -> None:
    options = requests.options(server.url + "/s2s/events", timeout=30)
    assert options.status_code == 204
    assert requests.get(server.url + "/s2s/events", timeout=30).status_code != 200
    assert requests.post(server.url + "/g/collect", data=b"{}", timeout=30).status_code != 200
