"""GA4 Data API runReport through google-analytics-data, against a stand-in answering like it."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug import Request, Response

from formats.plan.loader import load_plan_text
from sgtm.commands.reconcile import run_reconcile
from sidecar.reconcile.days import ReconcileError, day_range
from tests.reconcile import scenario
from tests.reconcile.plans import plan_text


def _plan():
    return load_plan_text(plan_text('  ga4_property: "123456789"\n'), "recon-test.yaml")


def test_run_report_per_day_beside_the_orders(httpserver, sqlite_store):
    seen: list[dict] = []

    def handle(request: Request) -> Response:
        seen.append(json.loads(request.data))
        body = {
            "dimensionHeaders": [{"name": "date"}],
            "metricHeaders": [
                {"name": "transactions", "type": "TYPE_INTEGER"},
                {"name": "purchaseRevenue", "type": "TYPE_CURRENCY"},
                {"name": "ecommercePurchases", "type": "TYPE_INTEGER"},
            ],
            "rows": [
                {
                    "dimensionValues": [{"value": "20261130"}],
                    "metricValues": [{"value": "4"}, {"value": "200.5"}, {"value": "4"}],
                }
            ],
            "rowCount": 1,
            "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Madrid"},
            "kind": "analyticsData#runReport",
        }
        return Response(json.dumps(body), 200, content_type="application/json")

    httpserver.expect_request(
        "/v1beta/properties/123456789:runReport", method="POST"
    ).respond_with_handler(handle)
    scenario.build(sqlite_store)
    env = {"SGTM_GA4_DATA_ENDPOINT": httpserver.url_for("").rstrip("/")}
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    report = run_reconcile(_plan(), sqlite_store, windows, env=env)
    ga4 = report.as_dict()["days"][0]["ga4"]
    assert ga4 == {
        "transactions": 4,
        "purchaseRevenue": 200.5,
        "ecommercePurchases": 4,
        "property": "123456789",
        "time_zone": "Europe/Madrid",
        "time_zone_matches": True,
        "vs_orders": 0.8,  # 4 of the 5 orders the webhooks reported
    }
    (req,) = seen
    assert req["dateRanges"] == [{"startDate": "2026-11-30", "endDate": "2026-11-30"}]
    assert [m["name"] for m in req["metrics"]] == [
        "transactions",
        "purchaseRevenue",
        "ecommercePurchases",
    ]
    assert req["dimensions"] == [{"name": "date"}]


def test_api_error_is_one_line(httpserver, sqlite_store):
    httpserver.expect_request("/v1beta/properties/123456789:runReport").respond_with_json(
        {
            "error": {
                "code": 403,
                "message": "User does not have sufficient permissions for this property.",
                "status": "PERMISSION_DENIED",
            }
        },
        status=403,
    )
    env = {"SGTM_GA4_DATA_ENDPOINT": httpserver.url_for("").rstrip("/")}
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    with pytest.raises(ReconcileError) as err:
        run_reconcile(_plan(), sqlite_store, windows, env=env)
    message = str(err.value)
    assert message.startswith("GA4 Data API runReport for property 123456789: 403 ")
    assert "sufficient permissions" in message and "\n" not in message


def test_missing_credentials_variable_is_named(sqlite_store):
    the_plan = load_plan_text(
        plan_text('  ga4_property: "123456789"\n  ga4_credentials: GA4_DATA_KEY\n'), "p.yaml"
    )
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    with pytest.raises(
        ReconcileError,
        match="reconcile.ga4_credentials: environment variable GA4_DATA_KEY is not set",
    ):
        run_reconcile(the_plan, sqlite_store, windows, env={})
