"""`sgtm plan ropa`: the records of processing, golden-tested, deterministic, and the fields
table in docs/privacy.md is exactly what it generates."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from formats.plan import load_plan, load_plan_text
from generator import ropa
from sgtm.cli import main
from tests.conftest import EXAMPLE_PLAN, REPO
from tests.regen_golden import PRIVACY_DOC, ROPA, privacy_doc

PLAN = load_plan(str(EXAMPLE_PLAN))


def test_cli_output_equals_the_golden_record(tmp_path: Path, capsys) -> None:
    assert main(["plan", "ropa", str(EXAMPLE_PLAN), "-o", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in ROPA.iterdir()), "run: python -m tests.regen_golden"
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROPA / name).read_bytes(), name


def test_the_record_is_deterministic() -> None:
    assert ropa.files(PLAN) == ropa.files(load_plan(str(EXAMPLE_PLAN)))


def test_docs_privacy_carries_the_generated_fields_table() -> None:
    current = PRIVACY_DOC.read_text(encoding="utf-8")
    assert current == privacy_doc(ropa.field_table(PLAN)), "run: python -m tests.regen_golden"
    assert "| `meta` | granted | ip | full |" in current


def test_every_art_30_heading_is_there_and_filled_from_the_plan() -> None:
    text = ropa.markdown(PLAN)
    for heading in (
        "## Controller",
        "## Purposes",
        "## Categories of data subjects",
        "## Categories of personal data",
        "## Recipients",
        "## Transfers to third countries",
        "## Retention",
        "## Technical and organisational measures",
        "## Data flow",
    ):
        assert heading in text
    assert "- **name**: Acme Home S.L." in text
    assert "```mermaid\nflowchart LR" in text
    record = json.loads(ropa.files(PLAN)["ropa.json"])
    meta = next(r for r in record["recipients"] if r["destination"] == "meta")
    assert meta["third_country_transfer"] is True
    assert meta["safeguard"].startswith("EU-US Data Privacy Framework")
    crm = next(r for r in record["recipients"] if r["destination"] == "crm")
    assert (crm["location"], crm["third_country_transfer"]) == ("europe-west1", False)
    assert {"store": "contexts"}.items() <= record["retention"][3].items()


def test_field_rows_follow_the_plan_policies() -> None:
    rows = list(csv.DictReader(io.StringIO(ropa.files(PLAN)["fields.csv"])))
    ga4 = {(r["consent"], r["field"]): r["sent_as"] for r in rows if r["destination"] == "ga4"}
    assert ga4[("anonymised", "page_location, page_referrer")] == "scheme, host and path only"
    assert ("granted", "ip") not in ga4  # ip: none
    ads = {
        (r["consent"], r["field"]): r["sent_as"] for r in rows if r["destination"] == "google_ads"
    }
    assert ads[("granted", "postal_code")] == "normalised (google rules), raw"
    assert ads[("granted", "email")] == "normalised (google rules), SHA-256"
    assert ads[("denied", "(nothing)")] == "not sent"


def test_undocumented_controller_and_safeguard_are_said_so() -> None:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    start = text.index("  # For the records of processing")
    end = text.index("  contexts_retention_days")
    bare = load_plan_text(text[:start] + text[end:])
    record = ropa.record(bare)
    assert record["controller"] == {"name": "NOT DOCUMENTED (privacy.controller)"}
    assert {r["safeguard"] for r in record["recipients"] if r["third_country_transfer"]} == {
        "NOT DOCUMENTED"
    }
    assert (REPO / "Makefile").read_text().count("plan ropa") == 1
