"""Reconciliation benchmark: `sgtm reconcile` over 30 days of stored events on SQLite, against a
single SQL aggregation over the same rows measured in the same run.

    python -m bench reconcile_bench                      # 1,000,000 events (the issue's goal: < 10 s)
    python bench/reconcile_bench.py --events 20000       # the smoke size CI runs

The outbox is filled the fast way (bulk INSERTs), but every row is a copy of what the real
ingest path wrote for the example plan: the envelope and consent decision come from
``Pipeline.ingest`` on a template order, then ids, times, values and consent vary per row.
By default 3 % of the stored events are purchases and the rest page events (view_item,
add_to_cart, begin_checkout), which the scan skips through its (event_name, accepted_at) index;
``--purchase-share 1`` is the worst case, every stored event an order. Each purchase has the example plan's five destinations, in a
mix of states (acknowledged, consent-blocked, pending, retrying, dead-lettered), a browser
duplicate for half of them and a join fact for each.

Measured: the whole reconciliation (``run_reconcile``: the store scan with its per-event
unpacking, day bucketing in the shop's time zone, every count, rate and percentile). Baseline:
one ``SELECT ... GROUP BY day, destination, state`` with count and revenue over the same
events and deliveries, the least any reconciliation must read. Ratio = ours / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from formats.plan.loader import load_plan  # noqa: E402
from sgtm.commands.reconcile import run_reconcile  # noqa: E402
from sidecar.ingest import Pipeline  # noqa: E402
from sidecar.reconcile.days import day_range  # noqa: E402
from sidecar.store.sqlite import SqliteStore  # noqa: E402

PLAN = REPO / "examples" / "shop" / "plan.yaml"
DAYS = 30
START, END = "2026-11-01", "2026-11-30"
STATES = (
    (  # (state, acked) with weights: most acknowledged, a tail of everything else
        ("succeeded", True),
    )
    * 90
    + (("failed", False),) * 4
    + (("waiting", False),) * 3
    + (("aborted", False),) * 2
    + (("filtered", False),)
)


def _template(plan) -> tuple[dict, dict]:
    """The envelope and decision the real pipeline stores for one Shopify order."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(os.path.join(tmp, "t.sqlite"))
        env = {
            "schema": 1,
            "event_name": "purchase",
            "event_id": "shopify-1-purchase",
            "timestamp": 1_700_000_000_000,
            "client_id": "1.1700000000",
            "consent": {"analytics": True, "ads": True, "functional": True},
            "params": {
                "transaction_id": "1",
                "currency": "EUR",
                "value": 89.9,
                "items": [{"id": "SKU-1", "name": "Mug", "qty": 1, "price": 89.9}],
            },
            "user_data": {"email": "a@example.com"},
            "context": {"user_agent": "Mozilla/5.0", "ip": "203.0.113.7"},
        }
        Pipeline(plan, store, clock=lambda: 1_700_000_005.0).ingest(
            [env], "shopify", order_ids=["1"]
        )
        row = store._read().execute("SELECT envelope, decision FROM events").fetchone()
        store.close()
    return json.loads(row[0]), json.loads(row[1])


def fill(path: str, plan, events: int, purchase_share: float, seed: int = 7) -> None:
    rng = random.Random(seed)
    envelope, decision = _template(plan)
    other_env = json.dumps(dict(envelope, event_name="view_item"))
    other_dec = json.dumps(dict(decision, event_name="view_item"))
    store = SqliteStore(path, synchronous="NORMAL")
    store._reconcile_schema()  # the reconciliation tables and index, as first use creates them
    db = store._conn()
    windows = day_range(START, END, None, plan.reconcile.timezone, time.time())
    start, end = windows[0].start, windows[-1].end
    dests = list(decision["destinations"])
    db.execute("BEGIN")
    for lo in range(0, events, 20_000):
        ev_rows, del_rows, dup_rows, join_rows = [], [], [], []
        for i in range(lo, min(events, lo + 20_000)):
            at = start + (end - start) * (i + 0.5) / events
            if rng.random() >= purchase_share:
                # A page event: stored and delivered like any other, skipped by the scan.
                eid = f"web-{i}"
                name = BROWSING[i % len(BROWSING)]
                ev_rows.append((eid, name, "web", None, other_env, other_dec, "1.0.0", at))
                for d in ("ga4", "meta", "warehouse"):
                    del_rows.append((eid, d, "succeeded", 1, at, at, at + 2, ""))
                continue
            eid = f"shopify-{i}-purchase"
            env = dict(envelope)
            env["event_id"] = eid
            env["timestamp"] = int((at - 4) * 1000)
            env["params"] = dict(
                envelope["params"], transaction_id=str(i), value=rng.randint(5, 300)
            )
            dec = dict(decision)
            dec["event_id"] = eid
            ads = rng.random() > 0.2
            dec["purposes"] = dict(decision["purposes"], ads={"granted": ads, "source": "event"})
            outcomes = dict(decision["destinations"])
            if not ads:
                outcomes["meta"] = outcomes["google_ads"] = "blocked_no_consent"
            dec["destinations"] = outcomes
            ev_rows.append(
                (eid, "purchase", "shopify", str(i), json.dumps(env), json.dumps(dec), "1.0.0", at)
            )
            for d in dests:
                if outcomes[d] == "blocked_no_consent":
                    continue
                state, acked = rng.choice(STATES)
                del_rows.append(
                    (eid, d, state, 1, at, at, at + rng.uniform(1, 600) if acked else None, "")
                )
            if i % 2 == 0:
                dup_rows.append((eid, "purchase", "web", str(i), at + 3, eid))
            join_rows.append((eid, "token" if rng.random() < 0.7 else "none", at))
        db.executemany(
            "INSERT INTO events(event_id, event_name, source, order_id, envelope, decision,"
            " plan_version, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ev_rows,
        )
        db.executemany(
            "INSERT INTO deliveries(event_id, destination, state, attempts, next_attempt_at,"
            " window_start, acked_at, last_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            del_rows,
        )
        db.executemany(
            "INSERT INTO reconcile_duplicates(event_id, event_name, source, transaction_id, at,"
            " key) VALUES (?, ?, ?, ?, ?, ?)",
            dup_rows,
        )
        db.executemany("INSERT INTO reconcile_joins(event_id, how, at) VALUES (?, ?, ?)", join_rows)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    store.close()


BROWSING = ("view_item", "view_item", "add_to_cart", "begin_checkout")

BASELINE = """
SELECT date(e.accepted_at, 'unixepoch') AS day, d.destination, d.state, COUNT(*),
       SUM(json_extract(e.envelope, '$.params.value'))
  FROM events e JOIN deliveries d ON d.event_id = e.event_id
 WHERE e.event_name = 'purchase' AND e.accepted_at >= ? AND e.accepted_at < ?
 GROUP BY day, d.destination, d.state
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reconcile_bench")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--purchase-share",
        type=float,
        default=0.03,
        help="share of stored events that are purchases (default 0.03: 30,000 orders a "
        "month among page events; 1.0 is the worst case, every event an order)",
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", help="reuse (or create) the outbox at this path")
    args = parser.parse_args(argv)
    plan = load_plan(PLAN)
    tmp = tempfile.TemporaryDirectory()
    path = args.keep or os.path.join(tmp.name, "bench.sqlite")
    if not os.path.exists(path):
        t = time.perf_counter()
        fill(path, plan, args.events, args.purchase_share)
        print(f"filled {args.events:,} events in {time.perf_counter() - t:.1f} s ({path})")
    windows = day_range(START, END, None, plan.reconcile.timezone, time.time())
    store = SqliteStore(path)
    n_rows = store._read().execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
    ours, base = [], []
    report = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        rows = store._read().execute(BASELINE, (windows[0].start, windows[-1].end)).fetchall()
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = run_reconcile(plan, store, windows, env={})
        ours.append(time.perf_counter() - t)
    store.close()
    assert report is not None
    counted = sum(sum(s.orders.count for s in d.sources.values()) for d in report.days)
    print(
        f"events: {args.events:,} over {DAYS} days ({args.purchase_share:.0%} purchases), "
        f"{n_rows:,} destination rows; "
        f"reconciled {counted:,} orders in {len(report.days)} days"
    )
    print(f"baseline (one SQL GROUP BY, {len(rows):,} groups): best {min(base):.2f} s")
    print(f"sgtm reconcile: best {min(ours):.2f} s (runs: {', '.join(f'{x:.2f}' for x in ours)})")
    print(f"ratio: {min(ours) / min(base):.2f}x the baseline; goal < 10 s at 1,000,000 events")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
