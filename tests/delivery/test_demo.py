"""`sgtm demo`: the whole local loop, checked for what each destination actually received."""

from __future__ import annotations

import json

from generator.cli import main


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
    assert report["decisions"]["demo-checkout-1"]["destinations"].count("blocked_no_consent") == 1
    # Every destination was delivered exactly once per event; the example plan's Google Ads
    # conversion is not configured, so it is scheduled for retry, with the tag's reason shown.
    assert (
        report["ledger"]["shopify-1001-purchase"]["destinations"]["google_ads"]["state"] == "failed"
    )
    assert any("not configured" in line for line in report["tag_errors"])
    # Secrets were throwaway: nothing but generated files and the outbox in the run directory.
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["generated", "outbox.sqlite"]
