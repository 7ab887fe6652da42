"""`sgtm reconcile` on a day written through the real ingest path, on both backends."""

from __future__ import annotations

import json
import time

import pytest

from sgtm.commands.reconcile import run_reconcile
from sidecar.reconcile.compute import classify_decision, classify_state, percentiles
from sidecar.reconcile.days import ReconcileError, day_range
from sidecar.reconcile.render import table
from tests.reconcile import scenario


def _report(store, the_plan=None):
    the_plan = the_plan or scenario.plan()
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    return run_reconcile(the_plan, store, windows)


def test_one_day_per_destination(any_store):
    scenario.build(any_store)
    report = _report(any_store)
    (day,) = report.as_dict()["days"]
    assert day["day"] == "2026-11-30"
    ga4, meta = day["destinations"]["ga4"], day["destinations"]["meta"]
    # o0 (00:30 local) counts, o9 (00:30 local the next day) does not: six orders on the day,
    # and o3 (no client id) was skipped by GA4 at ingest, so five are eligible.
    assert ga4["eligible"] == {"count": 5, "revenue": 220.0}
    assert ga4["acknowledged"] == {"count": 5, "revenue": 220.0}
    assert ga4["skipped"] == {"count": 1, "revenue": 30.0}
    assert ga4["reasons"]["skipped"] == {"no_client_id": 1}
    assert ga4["coverage"] == 1.0 and ga4["band_status"] == "ok"
    # o2 was acknowledged two hours after the sale: p95 over the 60-minute SLA.
    assert ga4["latency_s"] == {"p50": 30.0, "p95": 7200.0, "max": 7200.0}
    assert ga4["sla_status"] == "over"
    assert meta["acknowledged"] == {"count": 2, "revenue": 110.0}
    assert meta["consent_blocked"] == {"count": 1, "revenue": 50.0}
    assert meta["reasons"]["consent_blocked"] == {"blocked_no_consent": 1}
    assert (meta["pending"]["count"], meta["retrying"]["count"]) == (1, 1)
    assert meta["dead_lettered"] == {"count": 1, "revenue": 20.0}
    # eligible excludes the consent-blocked order: 2 of 5
    assert meta["eligible"]["count"] == 5 and meta["coverage"] == 0.4
    assert meta["revenue_coverage"] == 0.55
    assert meta["band_status"] == "out" and meta["sla_status"] == "ok"
    orders = day["orders"]
    assert orders["shopify"]["orders"] == {"count": 4, "revenue": 190.0}
    assert orders["stripe"]["orders"] == {"count": 1, "revenue": 20.0}
    assert orders["web"]["orders"] == {"count": 1, "revenue": 40.0}
    # the browser's copies of o1, o2, o4, o0 and one webhook redelivery were answered duplicate
    assert orders["web"]["duplicates"] == 4 and orders["web"]["dedupe_rate"] == 0.8
    assert orders["shopify"]["duplicates"] == 1 and orders["shopify"]["dedupe_rate"] == 0.2
    cs = day["client_vs_server"]
    assert (cs["client_purchases"], cs["server_orders"], cs["matched"]) == (5, 5, 4)
    assert (cs["server_only"], cs["client_only"]) == (1, 1)
    assert (cs["joined"], cs["not_joined"], cs["join_rate"]) == (4, 1, 0.8)
    assert day["consent_drop"]["ads"] == {"denied": 1, "events": 6, "rate": 0.1667}
    assert day["consent_drop"]["analytics"]["rate"] == 0.0
    failed = {f["order_id"]: f["destinations"] for f in day["failed_orders"]}
    assert failed == {"o3": ["meta: failed"], "o4": ["meta: aborted"]}
    assert report.failures() == [
        "2026-11-30 ga4: latency p95 120.0 min is over the 60 min SLA",
        "2026-11-30 meta: coverage 40.0% is outside ±10 %",
    ]


def test_table_names_every_column_and_the_verdict(sqlite_store):
    scenario.build(sqlite_store)
    text = table(_report(sqlite_store))
    assert "== 2026-11-30 ==" in text
    assert "orders seen: web 1 (40.00 EUR, 4 duplicate(s)); shopify 4 (190.00 EUR" in text
    header = next(line for line in text.splitlines() if line.startswith("destination"))
    for col in ("eligible", "ack", "coverage", "consent", "skipped", "pending", "retry", "dead"):
        assert col in header
    for col in ("quar", "expired", "p50", "p95", "max", "sla"):
        assert col in header
    assert "join rate 80.0% (4 of 5)" in text
    assert text.rstrip().splitlines()[-3] == "FAIL: 2 problem(s)"


def test_wider_band_and_sla_from_the_plan_pass(sqlite_store):
    loose = scenario.plan(
        "  destinations:\n"
        "    meta: {band: {target_pct: 50, tolerance_pct: 70}}\n"
        "    ga4: {latency_sla_minutes: 180}\n"
    )
    scenario.build(sqlite_store, loose)
    report = _report(sqlite_store, loose)
    day = report.as_dict()["days"][0]["destinations"]
    assert day["meta"]["band_status"] == "warn"  # 60 % off: beyond target, within tolerance
    assert day["ga4"]["sla_status"] == "ok"
    assert report.failures() == []


def test_states_a_newer_store_writes_are_counted_not_dropped():
    assert classify_state("quarantined") == ("quarantined", "")
    assert classify_state("expired: retry_window_hours") == ("expired", "retry_window_hours")
    assert classify_state("expired") == ("expired", "retry window")
    assert classify_state("skipped: no gclid") == ("skipped", "no gclid")
    assert classify_state("parked") == ("other", "parked")
    assert classify_decision("not_in_rollout") == ("skipped", "not_in_rollout")
    assert classify_decision("skipped: consent mode basic") == ("skipped", "consent mode basic")
    assert classify_decision("blocked_no_consent") == ("consent_blocked", "blocked_no_consent")
    assert classify_decision("anonymized") is None


def test_percentiles_are_nearest_rank():
    assert percentiles([]) == {"p50": None, "p95": None, "max": None}
    assert percentiles([3.0, 1.0, 2.0]) == {"p50": 2.0, "p95": 3.0, "max": 3.0}
    values = [float(i) for i in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "max": 100.0}


@pytest.mark.parametrize(
    ("start", "end", "days", "message"),
    [
        ("2026-13-01", None, None, "--from '2026-13-01': not a date; write YYYY-MM-DD"),
        ("yesterday", None, None, "--from 'yesterday': not a date"),
        ("2026-11-30", "2026-11-01", None, "--from 2026-11-30 is after --to 2026-11-01"),
        ("2026-01-01", "2026-06-01", None, "2026-01-01..2026-06-01 is 152 days; at most 92"),
        (None, None, 0, "--days 0: must be at least 1"),
        ("2026-11-01", None, 3, "--days cannot be combined with --from/--to"),
        ("2999-01-01", None, None, "--to 2999-01-01 is in the future"),
    ],
)
def test_bad_ranges(start, end, days, message):
    with pytest.raises(ReconcileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        day_range(start, end, days, "Europe/Madrid", time.time())


def test_default_is_yesterday_in_the_shop_time_zone():
    # 2026-12-01 00:30 in Madrid is still 2026-11-30 in UTC: "yesterday" is the 30th there.
    now = 1796081400.0  # 2026-11-30T23:30:00Z
    (w,) = day_range(None, None, None, "Europe/Madrid", now)
    assert str(w.day) == "2026-11-30"
    (w,) = day_range(None, None, None, "UTC", now)
    assert str(w.day) == "2026-11-29"
    assert len(day_range(None, None, 7, "UTC", now)) == 7


def test_dst_day_is_23_hours():
    windows = day_range("2026-03-29", None, None, "Europe/Madrid", time.time())
    assert windows[0].end - windows[0].start == 23 * 3600


# -- the command line ------------------------------------------------------------------------


def _plan_file(tmp_path, extra: str = ""):
    from tests.reconcile.plans import plan_text

    path = tmp_path / "plan.yaml"
    path.write_text(plan_text(extra))
    return path


def test_cli_json_and_exit_code(tmp_path, capsys, sqlite_store):
    from sgtm.cli import main

    scenario.build(sqlite_store)
    plan = _plan_file(tmp_path)
    argv = ["reconcile", "--plan", str(plan), "--outbox", sqlite_store.path, "--from", "2026-11-30"]
    assert main([*argv, "--format", "json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "fail" and len(body["failures"]) == 2
    assert body["days"][0]["destinations"]["meta"]["coverage"] == 0.4
    assert main(argv) == 1
    assert "FAIL: 2 problem(s)" in capsys.readouterr().out


def test_cli_passes_on_a_clean_day(tmp_path, capsys, sqlite_store):
    from sgtm.cli import main
    from sidecar.reconcile.simulate import Order, deliver, ingest_order

    the_plan = scenario.plan()
    event_id = ingest_order(the_plan, sqlite_store, Order("p1", 12.5, scenario.T0))
    deliver(sqlite_store, event_id, "ga4", "succeeded", scenario.T0 + 10)
    deliver(sqlite_store, event_id, "meta", "succeeded", scenario.T0 + 12)
    argv = ["reconcile", "--plan", str(_plan_file(tmp_path)), "--outbox", sqlite_store.path]
    assert main([*argv, "--from", "2026-11-30", "--to", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "PASS: every destination within its band and SLA" in out
    assert "== 2026-12-01 ==" in out  # an empty day is shown, and is not a failure


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2026-02-30"], "sgtm reconcile: --from '2026-02-30': not a date"),
        (["--from", "2026-01-01", "--to", "2026-12-01"], "is 335 days; at most 92"),
        (["--outbox", "/nonexistent/outbox.sqlite"], "/nonexistent/outbox.sqlite: no such outbox"),
        (["--backfill"], "--backfill needs --pull"),
        (["--plan", "/nonexistent.yaml"], "cannot read the plan"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, sqlite_store, argv, message):
    from sgtm.cli import main

    base = ["reconcile", "--plan", str(_plan_file(tmp_path)), "--outbox", sqlite_store.path]
    assert main([*base, *argv]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_gcp_without_a_project_is_one_line(tmp_path, capsys, monkeypatch):
    from sgtm.cli import main

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    argv = ["reconcile", "--plan", str(_plan_file(tmp_path)), "--backend", "gcp"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert (
        err.strip()
        == "sgtm reconcile: SGTM_BACKEND=gcp needs GOOGLE_CLOUD_PROJECT in the environment"
    )


def test_cli_writes_json_and_html_with_the_day_and_logs_one_line_per_destination(
    tmp_path, capsys, sqlite_store
):
    from sgtm.cli import main

    scenario.build(sqlite_store)
    argv = [
        "reconcile",
        "--plan",
        str(_plan_file(tmp_path)),
        "--outbox",
        sqlite_store.path,
        "--from",
        "2026-11-30",
        "--json",
        str(tmp_path / "r-{day}.json"),
        "--html",
        str(tmp_path / "r-{day}.html"),
        "--log-json",
    ]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert f"report: {tmp_path / 'r-2026-11-30.html'}" in captured.out
    assert json.loads((tmp_path / "r-2026-11-30.json").read_text())["status"] == "fail"
    lines = [json.loads(line) for line in captured.err.splitlines()]
    meta = next(line for line in lines if line["destination"] == "meta")
    assert (meta["type"], meta["band_status"], meta["severity"]) == (
        "reconcile_band",
        "out",
        "ERROR",
    )
    assert {line["destination"] for line in lines} == {"ga4", "meta"}
