"""Orders the platforms know but no webhook delivered, and their backfill.

An order is missing when its purchase event (``<source>-<order id>-purchase``, the webhook
formula) is not in the ledger from its order source. One the browser reported is listed too
(its webhook never came) but never backfilled: its event id is already taken, and the
destinations already have it.

``--backfill`` maps each missing order with the webhook mapping of its platform and sends the
envelopes through the identity join and ``Pipeline.ingest``: the same schema, consent and
dedupe rules as a webhook. Running it twice adds nothing the second time (same event id).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from formats.plan.model import Plan
from sidecar.reconcile.days import DayWindow, ReconcileError, local_day
from sidecar.reconcile.pulls import PULLERS, PageError, PulledOrder, shopify_rest_order
from sidecar.store.reconcile import record_join


def find_missing(
    plan: Plan,
    store: Any,
    report: Any,
    windows: list[DayWindow],
    env: dict[str, str],
    *,
    backfill: bool = False,
    sleep: Any = None,
) -> None:
    if not plan.reconcile.pulls:
        raise ReconcileError("--pull: the plan's reconcile section names no pulls")
    zone = ZoneInfo(plan.reconcile.timezone)
    days = {d.day: d for d in report.days}
    since, until = windows[0].start, windows[-1].end
    for name, pull in plan.reconcile.pulls.items():
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        if pull.kind == "woocommerce":
            statuses = plan.sources[name].settings.get("paid_statuses")
            if statuses:
                kwargs["paid_statuses"] = tuple(statuses)
        result = PULLERS[pull.kind](pull, since, until, env, **kwargs)
        per_day: dict[Any, list[PulledOrder]] = {}
        for order in result.orders:
            per_day.setdefault(local_day(order.created_at, zone), []).append(order)
        for day, report_day in days.items():
            mine = per_day.get(day, [])
            report_day.pulls[name] = {**result.as_dict(), "orders": len(mine)}
            for order in mine:
                if not order.paid:
                    continue
                entry = store.ledger(f"{name}-{order.order_id}-purchase")
                if entry is not None and entry.source == name:
                    continue
                missing = {
                    "source": name,
                    "order_id": order.order_id,
                    "value": order.value,
                    "currency": order.currency,
                    "created_at": datetime.fromtimestamp(order.created_at, UTC).isoformat(),
                    "event_id": f"{name}-{order.order_id}-purchase",
                    "browser_only": entry is not None,
                    "backfilled": False,
                }
                if backfill and entry is None:
                    missing["backfilled"] = _backfill(plan, store, pull, order, env, kwargs)
                report_day.missing_orders.append(missing)


def _backfill(
    plan: Plan, store: Any, pull: Any, order: PulledOrder, env: dict[str, str], kwargs: dict
) -> bool:
    from sidecar.ingest import ACCEPTED, Pipeline
    from sidecar.webhooks import identity, shopify, stripe, woocommerce

    settings = plan.sources[pull.source].settings
    kwargs = {k: v for k, v in kwargs.items() if k == "sleep"}
    try:
        if pull.kind == "shopify":
            raw = shopify_rest_order(pull, order.order_id, env, **kwargs)
            # The topic this source counts purchases on (orders/create needs financial_status
            # paid, which a pulled paid order has).
            topics = settings.get("purchase_topics") or ["orders/paid"]
            topic = "orders/paid" if "orders/paid" in topics else str(topics[0])
            mapped = shopify.map_webhook(topic, raw, settings)
        elif pull.kind == "woocommerce":
            mapped = woocommerce.map_webhook("order.updated", order.raw, settings)
        else:
            session = order.raw
            mapped = stripe.map_event(
                {
                    "id": f"evt_backfill_{session.get('id')}",
                    "type": "checkout.session.completed",
                    "livemode": session.get("livemode", True),
                    "created": int(order.created_at),
                    "data": {"object": session},
                },
                settings,
            )
    except PageError as exc:
        raise ReconcileError(f"--backfill: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - PayloadError and friends: say which order
        raise ReconcileError(
            f"--backfill: {pull.source} order {order.order_id} does not map: {exc}"
        ) from None
    todo = [e for e in mapped.events if e.envelope["event_name"] in plan.events]
    if not todo:
        return False
    candidates = [(identity.JOINED_TOKEN, identity.cart_key(t)) for t in mapped.join_tokens]
    candidates.append((identity.JOINED_ORDER, identity.order_key(pull.source, order.order_id)))
    joined = identity.find(store, candidates, mapped.carried)
    envelopes = [
        identity.fit_to_plan(identity.enrich(e.envelope, joined, plan), plan)[0] for e in todo
    ]
    results = Pipeline(plan, store).ingest(
        envelopes,
        pull.source,
        dedupe_keys=[(*e.dedupe_keys, f"{pull.source}:backfill:{order.order_id}") for e in todo],
        order_ids=[e.order_id for e in todo],
    )
    accepted = False
    for r in results:
        if r.status == ACCEPTED and r.event_id:
            record_join(store, r.event_id, joined.how, datetime.now(UTC).timestamp())
            accepted = True
        elif r.status == "rejected":
            errors = "; ".join(f"{e.pointer}: {e.message}" for e in r.errors)
            raise ReconcileError(
                f"--backfill: {pull.source} order {order.order_id} does not fit the plan: {errors}"
            )
    return accepted
