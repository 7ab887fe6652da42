"""`sgtm ledger show|order`: one event's recorded path, on both backends."""

from __future__ import annotations

import json

import pytest

from sidecar.reconcile.ledger import path_dict, path_text
from tests.reconcile import scenario


def test_event_path_has_every_recorded_step(any_store):
    ids = scenario.build(any_store)
    path = any_store.event_path(ids["o4"])
    assert (path.source, path.order_id, path.value, path.currency) == ("stripe", "o4", 20.0, "EUR")
    assert path.business_at == scenario.T0 + 1800
    assert path.accepted_at == scenario.T0 + 1800 + 5
    assert path.join == "attributes"
    assert path.decision["purposes"]["ads"] == {"granted": True, "source": "event"}
    assert path.decision["destinations"] == {"ga4": "queued", "meta": "queued"}
    # meta may have the email (hashed, under Meta's own key "em"); ga4 gets no PII here
    assert path.prepared["meta"]["pii_fields"] == ["em"]
    assert path.prepared["ga4"]["pii_fields"] == []
    assert path.deliveries["ga4"].state == "succeeded"
    assert path.deliveries["meta"].state == "aborted"
    outcomes = [(a.destination, a.outcome, a.http_status) for a in path.attempts]
    assert outcomes == [("ga4", "success", 200), ("meta", "rejected", 400)]
    (letter,) = path.dead_letters
    assert (letter.destination, letter.reason) == ("meta", "rejected: bad pixel")
    # the browser's copy, 3 s after the webhook, was answered duplicate
    (dup,) = path.duplicates
    assert dup.source == "web" and dup.at == scenario.T0 + 1800 + 8


def test_text_and_json_never_show_pii(sqlite_store):
    ids = scenario.build(sqlite_store)
    path = sqlite_store.event_path(ids["o1"])
    hashing = {"ga4": "google", "meta": "meta"}
    text = path_text(path, hashing)
    body = json.dumps(path_dict(path, hashing))
    for shown in (text, body):
        assert "buyero1@example.com" not in shown and "203.0.113.7" not in shown
    assert "meta         decision queued; sent em hashed by meta rules" in text
    assert "acknowledged 2026-11-30T09:00:40Z" in text
    assert "duplicate from shopify" in text and "duplicate from web" in text
    assert "request id not recorded" in text
    assert json.loads(body)["received"]["request_id"] is None


def test_cli_show_and_order(tmp_path, capsys, sqlite_store):
    from sgtm.cli import main

    ids = scenario.build(sqlite_store)
    out = ["--outbox", sqlite_store.path]
    assert main(["ledger", "show", ids["o3"], *out, "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["deliveries"]["meta"]["state"] == "failed"
    # meta's 503 at +40 s; GA4 skipped o3 at ingest (no client id), so never tried it
    assert [(a["destination"], a["reason"]) for a in body["attempts"]] == [("meta", "HTTP 503")]
    assert main(["ledger", "order", "o1", *out]) == 0
    text = capsys.readouterr().out
    assert text.startswith("event shopify-o1-purchase (purchase) - delivered")
    # the browser-only purchase is found by its transaction id
    assert main(["ledger", "order", "o5", *out, "--format", "json"]) == 0
    assert [e["source"] for e in json.loads(capsys.readouterr().out)] == ["web"]
    assert main(["ledger", "order", "o1", "--source", "stripe", *out]) == 1
    err = capsys.readouterr().err
    assert (
        err.strip() == "sgtm ledger order: no event of order 'o1' from source 'stripe' in the store"
    )
    assert main(["ledger", "show", "nope", *out]) == 1
    assert capsys.readouterr().err.strip() == "sgtm ledger show: no event 'nope' in the store"


@pytest.mark.emulator
def test_cli_on_firestore(gcp_store, tmp_path, capsys, monkeypatch):
    """The commands themselves on the gcp backend (the Firestore emulator)."""
    from sgtm.cli import main
    from tests.reconcile.plans import plan_text

    ids = scenario.build(gcp_store)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", gcp_store.project)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text())
    gcp = ["--backend", "gcp", "--plan", str(plan)]
    assert main(["ledger", "order", "o4", *gcp, "--format", "json"]) == 0
    (event,) = json.loads(capsys.readouterr().out)
    assert event["event_id"] == ids["o4"] and event["join"] == "attributes"
    assert main(["reconcile", *gcp, "--from", scenario.DAY, "--format", "json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["days"][0]["destinations"]["meta"]["coverage"] == 0.4


def test_purge_drops_the_reconciliation_facts_with_the_events(sqlite_store):
    ids = scenario.build(sqlite_store)
    assert sqlite_store.duplicates(0, 2e9)
    later = scenario.T0 + 40 * 86400
    sqlite_store.purge(later, dedupe_window_s=48 * 3600, retention_s=30 * 86400)
    assert sqlite_store.duplicates(0, 2e9) == []
    assert sqlite_store.event_path(ids["o1"]) is None
    assert sqlite_store._read().execute("SELECT COUNT(*) FROM reconcile_joins").fetchone() == (0,)
