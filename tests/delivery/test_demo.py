"""`sgtm demo`: the whole local loop, checked for what each destination actually received."""

from __future__ import annotations

import json

from sgtm.cli import main


def test_demo_runs_the_loop_and_respects_consent(capsys, tmp_path):
    assert main(["demo", "--format", "json", "--keep", str(tmp_path / "run")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    sent = {s["via"]: s for s in report["sent"]}
    assert all(s["http"] == 200 for s in report["sent"])
    assert sent["Shopify webhook (retry)"]["answer"][0]["status"] == "duplicate"
    got = report["received"]
    meta = " ".join(r["summary"] for r in got["meta"])
    # No ads consent on the checkout: Meta never saw it; GA4 did, with ads signals DENIED.
    assert "demo-checkout-1" not in meta and "InitiateCheckout" not in meta
    ga4 = [r["summary"] for r in got["ga4"]]
    assert any("begin_checkout" in s and "'ad_user_data': 'DENIED'" in s for s in ga4)
    # The webhook order joined the browser's consent (via /v1/context) and reached Meta with
    # hashed identifiers only, keyed by its event id.
    assert "Purchase event_id=shopify-1001-purchase" in meta and "em" in meta
    assert any("transaction_id=1001" in s for s in ga4)
    assert len(got["warehouse"]) == 4 and len(got["crm"]) == 1
    assert any(
        "event=purchase" in r["summary"] and "transaction_id=1001" in r["summary"]
        for r in got["warehouse"]
    )
    assert report["decisions"]["demo-checkout-1"]["destinations"].count("blocked_no_consent") == 1
    # Google Ads uploads the order through the Ads API, with the plan's account and conversion
    # action and hashed identifiers (the runtime signs with a local token).
    ads = " ".join(r["summary"] for r in got["google_ads"])
    assert "customers/1234567890/conversionActions/987654321" in ads
    for eid, entry in report["ledger"].items():
        for dest, status in entry["destinations"].items():
            assert status["state"] == "succeeded" and status["attempts"] == 1, (eid, dest)
    # Secrets were throwaway: the runtime's key file is gone even though the run dir was kept.
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "generated" in names and "outbox.sqlite" in names
    assert "sgtm-credentials.json" not in names
