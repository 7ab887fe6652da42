"""Authentic bodies that cannot be mapped are quarantined (202), counted, logged and replayable
with `sgtm quarantine replay` once the code or the plan can map them."""

from __future__ import annotations

import json

import pytest

from sgtm.cli import main
from sidecar.webhooks import shopify
from sidecar.webhooks.payload import PayloadError
from tests.webhooks.conftest import load_fixture

SAMPLE = "refund_shopify_sample"


def _sample() -> tuple[str, dict]:
    case = load_fixture("shopify", SAMPLE)
    return case["topic"], case["payload"]


def test_shopifys_own_sample_refund_is_accepted_with_the_amount_of_its_transactions(shop_store):
    """The refund line of Shopify's sample body has no ``subtotal``: that was a 400 (the body
    was kept nowhere and every retry failed the same way)."""
    shop, store = shop_store
    topic, refund = _sample()
    answer = shop.shopify(topic, refund, webhook_id="sample-1")
    assert answer.status_code == 200, answer.get_json()
    (event,) = answer.get_json()["events"]
    assert event["status"] == "accepted"
    row = store._read().execute("SELECT envelope FROM events").fetchone()
    params = json.loads(row[0])["params"]
    assert params["value"] == 244.98 and params["currency"] == "USD"
    assert store.quarantined() == []


def _old_mapping(monkeypatch) -> None:
    """The mapping as it was before the fix: a refund line without subtotal is an error."""

    def refuse(line, item, qty, currency):
        raise PayloadError(line["subtotal"].pointer, "expected a decimal amount, but it is missing")

    monkeypatch.setattr(shopify, "_refunded_line", refuse)


@pytest.fixture
def quarantined_sample(make_shop, monkeypatch, tmp_path):
    shop, store = make_shop()
    topic, refund = _sample()
    with monkeypatch.context() as m:
        _old_mapping(m)
        answer = shop.shopify(topic, refund, webhook_id="sample-1")
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status"] == "quarantined"
    assert body["errors"] == [
        {
            "pointer": "/refund_line_items/0/subtotal",
            "message": "expected a decimal amount, but it is missing",
        }
    ]
    for name, value in shop.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SGTM_PLAN", str(tmp_path / "plan0.yaml"))
    monkeypatch.setenv("SGTM_OUTBOX", store.path)
    return shop, store, body["quarantine_id"]


def test_quarantine_is_counted_logged_listed_shown_and_replayed(quarantined_sample, capsys):
    shop, store, item_id = quarantined_sample
    assert shop.stats().get_json()["quarantined"] == 1
    records = [json.loads(line) for line in shop.log.getvalue().splitlines() if line.strip()]
    (record,) = [r for r in records if r.get("type") == "webhook_quarantined"]
    assert record["source"] == "shopify" and record["topic"] == "refunds/create"
    assert record["errors"][0]["pointer"] == "/refund_line_items/0/subtotal"
    assert "Aviator" not in shop.log.getvalue()  # the body never reaches a log

    assert main(["quarantine", "list", "--format", "json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["quarantined"]
    assert listed["id"] == item_id and listed["platform"] == "shopify"
    assert listed["topic"] == "refunds/create" and listed["replayed_at"] is None
    assert main(["quarantine", "show", item_id, "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert json.loads(shown["body"]) == _sample()[1]
    assert set(shown["headers"]) >= {"X-Shopify-Hmac-Sha256", "X-Shopify-Topic"}

    # The current code maps it: replay queues the refund, once.
    assert main(["quarantine", "replay", "--format", "json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["resolved"] == 1 and doc["left"] == 0
    (result,) = doc["replayed"]
    assert result["status"] == "accepted"
    assert captured.err == ""  # --format json: one document on stdout, no progress (docs/cli.md)
    entry = store.ledger("shopify-820982911946154508-refund-890088186047892319")
    assert entry is not None and entry.status == "queued"
    assert shop.stats().get_json()["quarantined"] == 0
    assert main(["quarantine", "list"]) == 0
    assert "nothing quarantined" in capsys.readouterr().out
    # Shopify delivering the same body again now is a duplicate, not a second refund.
    again = shop.shopify(*_sample(), webhook_id="sample-1")
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"


def test_replay_with_a_rotated_secret_keeps_the_body(quarantined_sample, monkeypatch, capsys):
    shop, store, item_id = quarantined_sample
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRET", "a-new-secret-the-body-was-not-signed-with")
    assert main(["quarantine", "replay", item_id]) == 1
    captured = capsys.readouterr()
    assert "not_verified" in captured.out and "0 of 1 resolved" in captured.out
    assert f"[1/1] {item_id}: not_verified" in captured.err  # progress, one line a body off a TTY
    (item,) = store.quarantined()
    assert item.id == item_id and "no longer verifies" in item.last_result


def test_replay_of_a_body_still_unmappable_keeps_it_with_the_error(
    quarantined_sample, monkeypatch, capsys
):
    shop, store, item_id = quarantined_sample
    _old_mapping(monkeypatch)
    assert main(["quarantine", "replay"]) == 1
    assert "still_unmappable" in capsys.readouterr().out
    (item,) = store.quarantined()
    assert item.last_result.startswith("still unmappable: /refund_line_items/0/subtotal")


def test_replay_needs_the_secret(quarantined_sample, monkeypatch, capsys):
    monkeypatch.delenv("SHOPIFY_WEBHOOK_SECRET")
    assert main(["quarantine", "replay"]) == 1
    assert "SHOPIFY_WEBHOOK_SECRET is not set" in capsys.readouterr().err


def test_show_unknown_id(quarantined_sample, capsys):
    assert main(["quarantine", "show", "999"]) == 1
    assert "not found" in capsys.readouterr().err


def _charge_succeeded() -> dict:
    return {
        "id": "evt_charge_1",
        "object": "event",
        "api_version": "2024-10-28.acacia",
        "created": 1718700000,
        "livemode": True,
        "type": "charge.succeeded",
        "data": {
            "object": {
                "id": "ch_3PQx",
                "object": "charge",
                "amount": 9480,
                "currency": "eur",
                "payment_intent": "pi_3PQxYz2eZvKYlo2C0abcdEFG",
                "status": "succeeded",
            }
        },
    }


def test_stripe_refund_without_payment_intent_is_matched_through_its_charge(make_shop, tmp_path):
    """A refund.created naming only its charge used to get the charge id as its order id:
    it could never be matched to its purchase (transaction_id pi_...)."""
    from sidecar.webhooks.replay import replay_one

    shop, store = make_shop()
    refund = load_fixture("stripe", "refund_created_without_payment_intent")["payload"]
    early = shop.stripe(refund)  # the charge is not known yet: kept, not guessed
    assert early.status_code == 202
    assert early.get_json()["errors"][0]["pointer"] == "/data/object/payment_intent"
    seen = shop.stripe(_charge_succeeded())
    assert seen.status_code == 200 and seen.get_json()["status"] == "ignored"
    (item,) = store.quarantined()
    app = shop.client.application
    svc = app.extensions["sgtm"]
    result = replay_one(svc.plan, store, svc.pipeline, item, shop.env, 1_718_900_000.0)
    assert result.status == "accepted", result
    event_id = "stripe-pi_3PQxYz2eZvKYlo2C0abcdEFG-refund-re_3PQxNoIntent"
    entry = store.ledger(event_id)
    assert entry is not None and entry.order_id == "pi_3PQxYz2eZvKYlo2C0abcdEFG"
    row = store._read().execute("SELECT envelope FROM events WHERE event_id = ?", (event_id,))
    assert json.loads(row.fetchone()[0])["params"]["transaction_id"] == entry.order_id
    # Delivered again by Stripe later, it is now matched at once and is a duplicate.
    again = shop.stripe(refund)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
