"""The HTML report of ``sgtm reconcile --html FILE``: one self-contained file that opens offline.

plotly.js is inlined once (no CDN, no network); each chart is a plotly figure drawn from the
report's own numbers:

1. coverage per destination per day against its band (target and tolerance lines);
2. order revenue vs the revenue each destination acknowledged, per day;
3. client vs server: purchases the browser reported, orders the webhooks reported, matched;
4. consent-drop rate per purpose and dedupe rate per source, per day;
5. latency from business time to acknowledgement, per destination (box plot, all days);

then the table of missing and failed orders, each with the `sgtm ledger` command that shows
its whole path. Every text value is HTML-escaped; nothing personal is in the report (order
ids, values and destination states only).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from sidecar.reconcile.compute import Report

CHART_IDS = ("coverage", "revenue", "client-server", "rates", "latency")


def _figures(report: Report) -> list[tuple[str, str, Any]]:
    import plotly.graph_objects as go

    days = [d.day.isoformat() for d in report.days]
    dests: list[str] = []
    for d in report.days:
        for name in d.destinations:
            if name not in dests:
                dests.append(name)
    layout = {
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "height": 360,
        "template": "plotly_white",
    }

    cov = go.Figure(
        layout={**layout, "title": "Coverage per destination (acknowledged / eligible)"}
    )
    for name in dests:
        values = [
            (day.destinations[name].coverage if name in day.destinations else None)
            for day in report.days
        ]
        cov.add_trace(
            go.Scatter(
                x=days,
                y=[None if v is None else v * 100 for v in values],
                name=name,
                mode="lines+markers",
            )
        )
    if report.days and report.days[0].destinations:
        band = next(iter(report.days[0].destinations.values())).band
        for pct, dash, label in (
            (band["target_pct"], "dot", "target"),
            (band["tolerance_pct"], "dash", "tolerance"),
        ):
            cov.add_hline(
                y=100 - pct,
                line_dash=dash,
                line_color="grey",
                annotation_text=f"{label} -{pct:g} %",
            )
    cov.update_yaxes(title="%", rangemode="tozero")

    rev = go.Figure(
        layout={
            **layout,
            "title": f"Order revenue vs acknowledged revenue ({report.currency})",
            "barmode": "group",
        }
    )
    rev.add_trace(
        go.Bar(
            x=days,
            y=[round(sum(s.orders.revenue for s in d.sources.values()), 2) for d in report.days],
            name="orders",
        )
    )
    for name in dests:
        rev.add_trace(
            go.Bar(
                x=days,
                y=[
                    round(d.destinations[name].columns["acknowledged"].revenue, 2)
                    if name in d.destinations
                    else 0
                    for d in report.days
                ],
                name=f"{name} acknowledged",
            )
        )

    cs = go.Figure(layout={**layout, "title": "Client vs server purchases", "barmode": "group"})
    per_day = [d.client_server() for d in report.days]
    for key, label in (
        ("client_purchases", "browser reported"),
        ("server_orders", "webhooks reported"),
        ("matched", "both"),
    ):
        cs.add_trace(go.Bar(x=days, y=[c[key] for c in per_day], name=label))

    rates = go.Figure(
        layout={**layout, "title": "Consent denied per purpose and duplicates per source (%)"}
    )
    purposes = sorted({p for d in report.days for p in d.purposes})
    for p in purposes:
        rates.add_trace(
            go.Scatter(
                x=days,
                y=[_pct(d.consent_drop().get(p, {}).get("rate")) for d in report.days],
                name=f"consent denied: {p}",
                mode="lines+markers",
            )
        )
    sources = sorted(
        {s for d in report.days for s, v in d.sources.items() if v.orders.count or v.duplicates}
    )
    for s in sources:
        rates.add_trace(
            go.Scatter(
                x=days,
                y=[_pct(d.sources[s].dedupe_rate) if s in d.sources else None for d in report.days],
                name=f"duplicates: {s}",
                mode="lines+markers",
                line={"dash": "dot"},
            )
        )

    lat = go.Figure(
        layout={
            **layout,
            "title": "Latency from the order to the acknowledgement (minutes, log scale)",
        }
    )
    for name in dests:
        values = [
            v / 60
            for d in report.days
            if name in d.destinations
            for v in d.destinations[name].latencies
        ]
        lat.add_trace(go.Box(y=values, name=name, boxpoints="outliers"))
    lat.update_yaxes(type="log")  # seconds and days on one chart: a late backfill stays readable
    for fig in (cov, rev, cs, rates):
        fig.update_xaxes(type="category")  # one tick per day, not a time axis with hours
    return [
        ("coverage", "Coverage against the band", cov),
        ("revenue", "Revenue", rev),
        ("client-server", "Client vs server", cs),
        ("rates", "Consent and duplicates", rates),
        ("latency", "Latency", lat),
    ]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def render_html(report: Report) -> str:
    from plotly.offline import get_plotlyjs

    parts = []
    for div_id, heading, fig in _figures(report):
        body = fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False}
        )
        parts.append(f'<section class="chart"><h2>{html.escape(heading)}</h2>{body}</section>')
    failures = report.failures()
    verdict = (
        "<p class='fail'>FAIL: " + "<br>".join(html.escape(f) for f in failures) + "</p>"
        if failures
        else "<p class='pass'>PASS: every destination within its band and SLA</p>"
    )
    rows = []
    for d in report.days:
        for m in d.missing_orders:
            rows.append(
                (
                    d.day.isoformat(),
                    "missing" + (" (backfilled)" if m.get("backfilled") else ""),
                    m["source"],
                    m["order_id"],
                    m.get("value"),
                    m.get("currency"),
                    "no webhook",
                    m["event_id"],
                )
            )
        for f in d.failed_orders:
            rows.append(
                (
                    d.day.isoformat(),
                    "failed",
                    f["source"],
                    f["order_id"],
                    f.get("value"),
                    f.get("currency"),
                    ", ".join(f["destinations"]),
                    f["event_id"],
                )
            )
    table = (
        "".join(
            "<tr>"
            + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row[:7])
            + f"<td><code>sgtm ledger show {html.escape(row[7])}</code></td></tr>"
            for row in rows
        )
        or "<tr><td colspan='8'>none</td></tr>"
    )
    title = f"Reconciliation {report.plan}: {report.days[0].day} to {report.days[-1].day}"
    data = html.escape(json.dumps({"failures": failures, "days": len(report.days)}))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
.chart {{ margin-bottom: 16px; }} h2 {{ font-size: 16px; margin: 8px 0; }}
.pass {{ color: #176c2e; font-weight: bold; }} .fail {{ color: #a0191e; font-weight: bold; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body data-report="{data}">
<h1>{html.escape(title)}</h1>
<p>Days in {html.escape(report.timezone)}; revenue in {html.escape(report.currency)}; events {html.escape(", ".join(report.events))}.</p>
{verdict}
{"".join(parts)}
<section><h2>Missing and failed orders</h2>
<table id="orders"><tr><th>day</th><th>what</th><th>source</th><th>order</th><th>value</th><th>currency</th><th>detail</th><th>path</th></tr>
{table}</table></section>
</body></html>
"""


def write_html(report: Report, path: str) -> None:
    Path(path).write_text(render_html(report), encoding="utf-8")
