"""`sgtm plan diff` lists compliance changes on their own and exits 1 unless accepted."""

from __future__ import annotations

import json

import pytest

from formats.plan import load_plan, load_plan_text
from formats.plan.diff import diff_plans
from sgtm.cli import main
from tests.conftest import EXAMPLE_PLAN
from tests.plan.test_loader import MINIMAL

EXAMPLE = EXAMPLE_PLAN.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "category", "path"),
    [
        ("region: europe-west4", "region: us-central1", "region_changed", "region"),
        ("retention_days: 30", "retention_days: 90", "retention_changed", "retention_days"),
        ("currency: EUR", "currency: USD", "currency_changed", "currency"),
        (
            "purposes: [analytics]",
            "purposes: [analytics, ads]",
            "purposes_changed",
            "destinations.ga4.purposes",
        ),
    ],
)
def test_compliance_change(old: str, new: str, category: str, path: str) -> None:
    report = diff_plans(load_plan_text(MINIMAL), load_plan_text(MINIMAL.replace(old, new)))
    assert [(c.category, c.path) for c in report.compliance] == [(category, path)]
    assert f"{category:<28} {path}" in report.text()


def test_a_new_recipient_and_a_changed_vendor_are_compliance_changes() -> None:
    old = load_plan(EXAMPLE_PLAN)
    text = EXAMPLE.replace(
        "url: https://crm.acme-home.example/hooks/sgtm", "url: https://hooks.vendor.example/acme"
    )
    new = load_plan_text(text)
    changes = {(c.category, c.path): c.detail for c in diff_plans(old, new).compliance}
    assert changes == {
        (
            "vendor_changed",
            "destinations.crm.kind",
        ): "http crm.acme-home.example -> http hooks.vendor.example",
    }


def test_regions_and_residency_changes_are_compliance_changes() -> None:
    old = load_plan(EXAMPLE_PLAN)
    text = EXAMPLE.replace("      gpc: deny_ads\n      meta_ldu: true\n", "      gpc: ignore\n")
    text = text.replace("privacy:\n  residency: eu\n", "privacy:\n  residency: none\n")
    categories = [c.category for c in diff_plans(old, load_plan_text(text)).compliance]
    assert categories == ["residency_changed", "regions_changed"]


def test_no_compliance_change_no_section() -> None:
    plan = load_plan(EXAMPLE_PLAN)
    report = diff_plans(plan, plan)
    assert report.compliance == [] and "compliance" not in report.text()


def test_cli_exits_1_until_the_change_is_accepted(tmp_path, capsys) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(MINIMAL)
    new.write_text(
        MINIMAL.replace("region: europe-west4", "region: us-central1").replace(
            '"2.1.0-rc.1"', '"2.1.0"'
        )
    )
    assert main(["plan", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "compliance changes (1;" in out and "region_changed" in out
    assert "europe-west4 -> us-central1" in out
    assert main(["plan", "diff", str(old), str(new), "--accept-compliance-change"]) == 0
    capsys.readouterr()
    assert main(["plan", "diff", str(old), str(new), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["compliance"][0]["category"] == "region_changed"


def test_a_bigquery_location_change_names_the_default() -> None:
    old = load_plan(EXAMPLE_PLAN)
    text = EXAMPLE.replace(
        "      dataset: sgtm_events\n", "      dataset: sgtm_events\n      location: EU\n"
    )
    changes = [(c.category, c.detail) for c in diff_plans(old, load_plan_text(text)).compliance]
    assert changes == [("location_changed", "(the region) -> EU")]
