"""End to end on the real parts: the sidecar under gunicorn, the worker process, the local sGTM
runtime serving the container generated from the plan, and a capture server playing GA4, Meta
and the CRM (the warehouse is the runtime's in-memory BigQuery).

The plan is the example shop's without Google Ads: the example's conversion action id is not
numeric, so its generated tag (correctly) refuses to send and would only ever dead-letter.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from formats.plan import load_plan
from generator.render import generate
from runtime.dev import serve
from sgtm.harness.vendors import CaptureServer, local_key_file, vendor_hosts
from tests.conftest import EXAMPLE_PLAN, free_port
from tests.delivery.stack import Stack, event
from tests.delivery.test_faults import check_invariants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def plan_path(tmp_path) -> Path:
    yaml = YAML()
    doc = yaml.load(EXAMPLE_PLAN.read_text())
    del doc["destinations"]["google_ads"]
    path = tmp_path / "plan.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


class Runtime:
    """The generated container in the local runtime, restartable on the same port."""

    def __init__(self, container: Path, routes: dict[str, str]) -> None:
        self.container, self.routes, self.port = container, routes, free_port()
        self.server = None
        # Every server ever started: a request in flight when one stops may still write its
        # warehouse row (and answer success) after the stop began.
        self.servers: list = []

    def warehouse_rows(self) -> list[dict]:
        return [r for s in self.servers for t in s.runtime.env.bigquery.values() for r in t]

    def start(self) -> None:
        self.server = serve(
            self.container, port=self.port, routes=self.routes, log=lambda _l: None
        ).start()
        self.servers.append(self.server)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


@pytest.fixture
def loop(tmp_path, plan_path, monkeypatch):
    plan = load_plan(plan_path)
    out = tmp_path / "generated"
    for rel, text in generate(plan).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    capture = CaptureServer()
    routes = {h: f"{capture.url}/{d}" for h, d in vendor_hosts(plan).items()}
    rt = Runtime(out / "container.json", routes)
    stack = Stack(
        tmp_path,
        f"http://127.0.0.1:{rt.port}/s2s/events",
        plan=plan_path,
        delivery_kid="delivery-1",
        # A batch runs three sandboxed tags per event in the local runtime: on a loaded
        # machine (or beside other xdist workers) it can take longer than the stack's 2 s
        # default, and a worker that gives up on a batch sGTM already forwarded sends it again
        # (at-least-once), which the exactly-once check below would then see.
        worker_timeout=15.0,
    )
    keys = tmp_path / "credentials.json"
    keys.write_text(local_key_file(plan, stack.secrets["SGTM_DELIVERY_KEYS"]))
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keys))
    rt.start()
    stack.start_sidecar()
    stack.capture, stack.runtime = capture, rt
    yield stack
    stack.stop()
    rt.stop()
    capture.close()


def receipts(stack) -> tuple[list[tuple[str, str, float]], set[tuple[str, str]]]:
    """(destination, event id, time) the vendors accepted; every (destination, event id) sent."""

    def ids(c) -> list[str]:
        body = c.body if isinstance(c.body, dict) else {}
        if c.destination == "ga4":  # GA4 MP has no event id; the tests use it as transaction id
            return [e["params"].get("transaction_id") for e in body.get("events", [])]
        if c.destination == "meta":
            return [e.get("event_id") for e in body.get("data", [])]
        return [body.get("event_id")]

    acked = [(c.destination, i, c.at) for c in stack.capture.requests for i in ids(c)]
    seen = {
        (c.destination, i) for c in stack.capture.requests + stack.capture.refused for i in ids(c)
    }
    rows = stack.runtime.warehouse_rows()
    # In-memory BigQuery has no arrival time: a row counts as received, never as "late".
    acked += [("warehouse", r["event_id"], 0.0) for r in rows]
    seen |= {("warehouse", r["event_id"]) for r in rows}
    return acked, seen


def test_partial_failure_then_sgtm_outage_then_recovery(loop):
    # Meta's API answers 500 and the CRM 429 (rate limited); GA4 and the warehouse are fine.
    loop.capture.fail.update(meta=500, crm=429)
    loop.worker.start()
    ids = [r["event_id"] for r in loop.post([event(f"rt-{i}") for i in range(8)])["results"]]
    ids += [r["event_id"] for r in loop.post([event("rt-noads", ads=False)])["results"]]
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and len({(d, e) for d, e, _ in receipts(loop)[0] if d == "ga4"}) < 9
    ):
        time.sleep(0.1)
    refused = {c.destination for c in loop.capture.refused}
    assert refused == {"meta", "crm"}, refused
    loop.runtime.stop()  # the whole tagging server goes away for a while
    time.sleep(1.5)
    loop.capture.fail.clear()
    loop.runtime.start()
    check_invariants(loop, ids, *receipts_when_done(loop, ids), denied_ads={"rt-noads"})
    metas = [e for d, e, _ in receipts(loop)[0] if d == "meta"]
    assert sorted(metas) == sorted(i for i in ids if i != "rt-noads")  # each once, after all


def receipts_when_done(loop, ids):
    from sidecar.store.sqlite import SqliteStore
    from tests.delivery.test_faults import wait_all_final

    wait_all_final(SqliteStore(loop.env["SGTM_OUTBOX"]), ids)
    return receipts(loop)


def test_worker_sigkill_mid_batch_and_duplicates(loop):
    loop.capture.delay_s["meta"] = 0.05
    first = loop.post([event(f"k-{i}") for i in range(12)], browser=True)
    again = loop.post([event(f"k-{i}") for i in range(12)])  # the server sends them too
    assert {r["status"] for r in again["results"]} == {"duplicate"}
    ids = [r["event_id"] for r in first["results"] if r["status"] == "accepted"]
    loop.worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not loop.capture.requests:
        time.sleep(0.02)
    time.sleep(0.2)
    loop.worker.kill(signal.SIGKILL)
    loop.worker.start()
    check_invariants(loop, ids, *receipts_when_done(loop, ids))
