"""One reconciled day, written through the real ingest path into any store (both backends).

2026-11-30 in Europe/Madrid (UTC+1): five orders on the day, one the evening before (local
time) and one just after midnight (the next local day), so the time-zone cut is exercised.
"""

from __future__ import annotations

from datetime import UTC, datetime

from formats.plan.loader import load_plan_text
from sidecar.reconcile.simulate import Order, deliver, ingest_order
from tests.reconcile.plans import plan_text

DAY = "2026-11-30"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()  # 10:00 in Madrid
ANALYTICS_ONLY = {"analytics": True, "ads": False, "functional": True}


def plan(extra: str = ""):
    return load_plan_text(plan_text(extra), "recon-test.yaml")


def build(store, the_plan=None) -> dict[str, str]:
    """Returns order id -> event id."""
    the_plan = the_plan or plan()
    orders = [
        # full consent, browser saw it, both destinations acknowledge
        Order("o1", 100.0, T0),
        # ads denied: meta blocked by consent
        Order("o2", 50.0, T0 + 600, consent=dict(ANALYTICS_ONLY)),
        # the browser never reported it (blocked), no context: no client id, so GA4 skips it at
        # ingest (skipped: no_client_id); meta retrying
        Order("o3", 30.0, T0 + 1200, browser=False, joined="none"),
        # Stripe, joined by attributes; meta dead-lettered
        Order("o4", 20.0, T0 + 1800, source="stripe", joined="attributes"),
        # 00:30 local on the 30th (23:30 UTC on the 29th): belongs to the 30th
        Order("o0", 10.0, datetime(2026, 11, 29, 23, 30, tzinfo=UTC).timestamp()),
        # 00:30 local on Dec 1st (23:30 UTC on the 30th): not the 30th
        Order("o9", 999.0, datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()),
    ]
    ids = {o.order_id: ingest_order(the_plan, store, o) for o in orders}
    # A redelivered webhook of o1 (same order id + topic key): a second duplicate from shopify.
    ingest_order(the_plan, store, Order("o1", 100.0, T0 + 60, browser=False))
    # The browser reported a purchase whose webhook never came (yet): stored from web.
    ids["o5"] = ingest_order(the_plan, store, Order("o5", 40.0, T0 + 2400), webhook=False)
    for oid in ("o1", "o4", "o0", "o9", "o5"):
        deliver(store, ids[oid], "ga4", "succeeded", _t(oid) + 30)
    # GA4 acknowledges o2 two hours after the sale: over the 60-minute SLA
    deliver(store, ids["o2"], "ga4", "succeeded", _t("o2") + 7200)
    deliver(store, ids["o1"], "meta", "succeeded", _t("o1") + 40)
    deliver(store, ids["o0"], "meta", "succeeded", _t("o0") + 40)
    deliver(store, ids["o3"], "meta", "failed", _t("o3") + 40, "HTTP 503", 503)
    deliver(store, ids["o4"], "meta", "aborted", _t("o4") + 40, "rejected: bad pixel", 400)
    return ids


_TIMES = {
    "o1": T0,
    "o2": T0 + 600,
    "o3": T0 + 1200,
    "o4": T0 + 1800,
    "o5": T0 + 2400,
    "o0": datetime(2026, 11, 29, 23, 30, tzinfo=UTC).timestamp(),
    "o9": datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp(),
}


def _t(order_id: str) -> float:
    return _TIMES[order_id]
