"""Causes, not symptoms: when sGTM (or the local runtime) answers an error, the worker's log
record and the stored attempt carry the cause it reported, bounded and free of PII."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from runtime.container import HandledRequest
from runtime.dev import never_returned
from runtime.host import Response as HostResponse
from sgtm.harness.loop import DEFAULT_PLAN, LocalLoop
from sgtm.harness.payloads import browser_event
from sidecar.delivery.worker import answer_cause

CONSENT = {"analytics": True, "ads": True, "functional": True}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_sgtm_dev_without_sgtm_credentials_reaches_the_ledger_and_the_log():
    loop = LocalLoop(str(DEFAULT_PLAN), Path(tempfile.mkdtemp(prefix="sgtm-cause-"))).start()
    # The sidecar's own logging stops at its handler (propagate off): listen on the logger.
    logger, seen = logging.getLogger("sidecar.delivery"), Records()
    logger.addHandler(seen)
    level = logger.level
    logger.setLevel(logging.WARNING)  # the demo's sidecar logs only errors
    try:
        os.environ.pop("SGTM_CREDENTIALS")  # what `sgtm dev` sees when it was not set
        event = browser_event("view_item", "ev-cause", CONSENT, currency="EUR", items=[{"id": "A"}])
        assert loop.server(event)[0] == 200
        loop.deliver()
        ledger = loop.store.ledger("ev-cause")
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
        loop.close()
    cause = "hmacSha256: environment variable SGTM_CREDENTIALS is not set"
    for status in ledger.destinations.values():
        assert status.state == "failed"
        assert status.last_reason.startswith(f"sGTM answered HTTP 504: {cause}")
    records = [r.json_fields for r in seen.records if hasattr(r, "json_fields")]
    assert records and all(cause in r["reason"] for r in records)


def test_the_runtime_puts_the_clients_exception_first_without_local_paths():
    handled = HandledRequest(
        response=HostResponse(),
        client="sgtm-companion",
        errors=[
            "client 'sgtm-companion': /home/me/out/container.json#sgtm-companion client:281: "
            "hmacSha256: environment variable SGTM_CREDENTIALS is not set"
        ],
    )
    assert never_returned(handled) == (
        "hmacSha256: environment variable SGTM_CREDENTIALS is not set (client 'sgtm-companion' "
        "claimed the request but never called returnResponse; at "
        "container.json#sgtm-companion client:281)"
    )
    bare = HandledRequest(response=HostResponse(), client="c")
    assert never_returned(bare) == "client 'c' claimed the request but never called returnResponse"


def test_a_cause_is_bounded_on_one_line_and_redacted():
    body = b"TypeError: bad value ana@example.com\nfrom 203.0.113.7 " + b"x" * 500
    cause = answer_cause(body)
    assert "\n" not in cause and len(cause) <= 200
    assert "ana@example.com" not in cause and "203.0.113.7" not in cause
    assert cause.startswith("TypeError: bad value ")
    assert answer_cause(b'{"schema": 1, "events": [{"client_id": "1"}]}') == (
        "(answer left out: it quotes event data)"
    )
    assert answer_cause(b"  ") == ""
