"""The reconciliation step that ends `sgtm demo`: a simulated day, a lost order found and
backfilled by the pull (from a local Admin API stand-in), the table and the report."""

from __future__ import annotations

from pathlib import Path

from formats.plan.loader import load_plan
from sgtm.demo_day import LOST, run_demo_day
from tests.conftest import EXAMPLE_PLAN


def test_demo_day(tmp_path):
    result = run_demo_day(load_plan(EXAMPLE_PLAN), tmp_path)
    (day,) = result["report"]["days"]
    (missing,) = day["missing_orders"]
    assert (missing["order_id"], missing["backfilled"]) == (LOST, True)
    assert day["pulls"]["shopify"]["complete"] is True
    assert day["orders"]["shopify"]["orders"]["count"] == 8
    ga4 = day["destinations"]["ga4"]
    assert ga4["acknowledged"]["count"] == 8 and ga4["coverage"] == 1.0
    # three orders came without a browser context: analytics anonymised, ads blocked
    assert ga4["anonymised"]["count"] == 3
    assert day["client_vs_server"]["join_rate"] == 0.625
    # meta failed once at noon and recovered: acknowledged ten minutes later
    assert day["destinations"]["meta"]["latency_s"]["max"] >= 600
    assert "order pull shopify: 8 orders, complete" in result["table"]
    assert f"missing: shopify order {LOST} 45.0 EUR" in result["table"]
    assert Path(result["html"]).is_file()
