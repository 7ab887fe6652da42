"""The terminal table of a reconciliation report (``--format json`` is ``Report.as_dict``)."""

from __future__ import annotations

from sidecar.reconcile.compute import DayReport, Report

_HEAD = (
    ("destination", "<"),
    ("eligible", ">"),
    ("ack", ">"),
    ("coverage", ">"),
    ("band", "<"),
    ("revenue ack", ">"),
    ("consent", ">"),
    ("anon", ">"),
    ("skipped", ">"),
    ("pending", ">"),
    ("retry", ">"),
    ("dead", ">"),
    ("quar", ">"),
    ("expired", ">"),
    ("other", ">"),
    ("p50", ">"),
    ("p95", ">"),
    ("max", ">"),
    ("sla", "<"),
)


def table(report: Report) -> str:
    lines = [
        f"reconcile {report.plan}: {', '.join(report.events)}; days in {report.timezone}; "
        f"revenue in {report.currency}"
    ]
    for day in report.days:
        lines.append("")
        lines.extend(_day(day, report.currency))
    failures = report.failures()
    lines.append("")
    if failures:
        lines.append(f"FAIL: {len(failures)} problem(s)")
        lines.extend(f"  {f}" for f in failures)
    else:
        lines.append("PASS: every destination within its band and SLA")
    return "\n".join(lines)


def _day(day: DayReport, currency: str) -> list[str]:
    out = [f"== {day.day} =="]
    orders = []
    for s in day.sources.values():
        if s.orders.count or s.duplicates:
            extra = f", {s.other_currency} in other currencies" if s.other_currency else ""
            dup = f", {s.duplicates} duplicate(s)" if s.duplicates else ""
            orders.append(
                f"{s.source} {s.orders.count} ({s.orders.revenue:,.2f} {currency}{extra}{dup})"
            )
    out.append("orders seen: " + ("; ".join(orders) or "none"))
    rows = [[h for h, _ in _HEAD]]
    for d in day.destinations.values():
        c = d.columns
        cov = d.coverage
        lat = d.latency()
        skipped = c["skipped"].count
        rows.append(
            [
                d.destination,
                str(d.eligible.count),
                str(c["acknowledged"].count),
                "-" if cov is None else f"{cov:.1%}",
                d.band_status,
                f"{c['acknowledged'].revenue:,.2f}",
                str(c["consent_blocked"].count),
                str(c["anonymised"].count),
                str(skipped),
                str(c["pending"].count),
                str(c["retrying"].count),
                str(c["dead_lettered"].count),
                str(c["quarantined"].count),
                str(c["expired"].count),
                str(c["other"].count),
                _duration(lat["p50"]),
                _duration(lat["p95"]),
                _duration(lat["max"]),
                d.sla_status if d.sla_minutes is None else f"{d.sla_status} ({d.sla_minutes}m)",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    for r in rows:
        cells = [
            cell.ljust(w) if align == "<" else cell.rjust(w)
            for cell, w, (_, align) in zip(r, widths, _HEAD, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    for d in day.destinations.values():
        for column, reasons in sorted(d.reasons.items()):
            listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            out.append(f"  {d.destination} {column}: {listed}")
    cs = day.client_server()
    share = "-" if cs["client_share"] is None else f"{cs['client_share']:.1%}"
    join = "-" if cs["join_rate"] is None else f"{cs['join_rate']:.1%}"
    out.append(
        f"client vs server: browser reported {cs['client_purchases']}, webhooks {cs['server_orders']}, "
        f"matched {cs['matched']} ({share} of orders), {cs['server_only']} server-only, "
        f"{cs['client_only']} client-only; join rate {join} ({cs['joined']} of "
        f"{cs['joined'] + cs['not_joined']})"
    )
    dedupe = [
        f"{s.source} {s.dedupe_rate:.1%}" for s in day.sources.values() if s.dedupe_rate is not None
    ]
    out.append("dedupe rate: " + (", ".join(dedupe) or "-"))
    drops = [
        f"{p} {v['rate']:.1%} ({v['denied']}/{v['events']})"
        for p, v in day.consent_drop().items()
        if v["rate"] is not None
    ]
    out.append("consent denied: " + (", ".join(drops) or "-"))
    for name, pull in day.pulls.items():
        state = (
            "complete"
            if pull.get("complete")
            else "PARTIAL: " + "; ".join(pull.get("missing_pages", []))
        )
        out.append(f"order pull {name}: {pull.get('orders', 0)} orders, {state}")
    for m in day.missing_orders:
        out.append(
            f"  missing: {m['source']} order {m['order_id']} {m.get('value')} {m.get('currency')}"
            f" ({m.get('created_at', '')})" + (" backfilled" if m.get("backfilled") else "")
        )
    if day.ga4 is not None:
        g = day.ga4
        out.append(
            f"GA4 reports: {g.get('transactions')} transactions, {g.get('ecommercePurchases')} "
            f"purchases, revenue {g.get('purchaseRevenue')}"
        )
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
