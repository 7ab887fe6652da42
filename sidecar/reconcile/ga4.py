"""What GA4 itself counted: the Data API's ``runReport`` per day, beside the orders.

``transactions``, ``purchaseRevenue`` and ``ecommercePurchases`` by ``date`` for the
reconciled days, through Google's ``google-analytics-data`` client (REST transport, so the
stand-in in the tests is a plain HTTP server). GA4 dates are in the property's own time zone,
reported in the answer's ``metadata.timeZone``; when it is not the plan's, the report says so.

Credentials: the environment variable ``reconcile.ga4_credentials`` names holds a service
account key (JSON) with the Viewer role on the property; without it, Application Default
Credentials (the Cloud Run job's service account). ``SGTM_GA4_DATA_ENDPOINT`` points the client
elsewhere (a stand-in: ``http://127.0.0.1:PORT``, then with anonymous credentials).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from formats.plan.model import Plan
from sidecar.reconcile.days import DayWindow, ReconcileError

METRICS = ("transactions", "purchaseRevenue", "ecommercePurchases")
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"


def _client(plan: Plan, env: dict[str, str]) -> Any:
    try:
        from google.analytics.data_v1beta import BetaAnalyticsDataClient
        from google.analytics.data_v1beta.services.beta_analytics_data.transports.rest import (
            BetaAnalyticsDataRestTransport,
        )
    except ImportError as exc:
        raise ReconcileError(
            f"reconcile.ga4_property needs google-analytics-data (pip install "
            f"'sgtm-companion[gcp]'): {exc}"
        ) from None
    credentials = None
    ref = plan.reconcile.ga4_credentials
    if ref is not None:
        raw = env.get(ref.env, "")
        if not raw:
            raise ReconcileError(f"{ref.where}: environment variable {ref.env} is not set")
        try:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(
                json.loads(raw), scopes=[SCOPE]
            )
        except (ValueError, KeyError) as exc:
            raise ReconcileError(
                f"{ref.where}: {ref.env} does not hold a service account key: {exc}"
            ) from None
    endpoint = env.get("SGTM_GA4_DATA_ENDPOINT", "")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        if credentials is None:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        transport = BetaAnalyticsDataRestTransport(
            host=host.rstrip("/"), credentials=credentials, url_scheme=scheme
        )
        return BetaAnalyticsDataClient(transport=transport)
    try:
        return BetaAnalyticsDataClient(credentials=credentials, transport="rest")
    except Exception as exc:  # noqa: BLE001 - DefaultCredentialsError and the like
        raise ReconcileError(f"GA4 Data API: no credentials: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def run_report(plan: Plan, windows: list[DayWindow], env: dict[str, str]) -> dict[str, Any]:
    """{"YYYY-MM-DD": {metric: value}, "_time_zone": tz} for the days asked."""
    from google.analytics.data_v1beta.types import DateRange, Dimension, Metric, RunReportRequest

    client = _client(plan, env)
    request = RunReportRequest(
        property=f"properties/{plan.reconcile.ga4_property}",
        date_ranges=[
            DateRange(start_date=windows[0].day.isoformat(), end_date=windows[-1].day.isoformat())
        ],
        dimensions=[Dimension(name="date")],
        metrics=[Metric(name=m) for m in METRICS],
        keep_empty_rows=True,
    )
    try:
        response = client.run_report(request=request, timeout=60)
    except Exception as exc:  # noqa: BLE001 - GoogleAPICallError, transport errors
        raise ReconcileError(
            f"GA4 Data API runReport for property {plan.reconcile.ga4_property}: {_first_line(exc)}"
        ) from None
    names = [h.name for h in response.metric_headers]
    out: dict[str, Any] = {"_time_zone": response.metadata.time_zone or ""}
    for row in response.rows:
        raw = row.dimension_values[0].value  # YYYYMMDD
        day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])).isoformat()
        out[day] = {n: _number(v.value) for n, v in zip(names, row.metric_values, strict=True)}
    return out


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return round(float(text), 2)


def attach_ga4(plan: Plan, report: Any, windows: list[DayWindow], env: dict[str, str]) -> None:
    figures = run_report(plan, windows, env)
    zone = figures.pop("_time_zone")
    for day in report.days:
        got = figures.get(day.day.isoformat(), {m: 0 for m in METRICS})
        server = len(day.server_ids)
        tx = got.get("transactions", 0)
        day.ga4 = {
            **got,
            "property": plan.reconcile.ga4_property,
            "time_zone": zone,
            "time_zone_matches": zone in ("", plan.reconcile.timezone),
            "vs_orders": round(tx / server, 4) if server else None,
        }
