"""Meta API versions: the dated table, and `sgtm plan check` judging the plan's version by it."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from formats.plan import load_plan_text
from formats.plan.loader import check_plan_text
from formats.plan.meta_versions import (
    CHECKED,
    DEFAULT_VERSION,
    VERSIONS,
    WARN_DAYS,
    check_version,
)
from sgtm.cli import main
from tests.conftest import EXAMPLE_PLAN

EXAMPLE = EXAMPLE_PLAN.read_text(encoding="utf-8")


def _with_version(version: str) -> str:
    assert f"api_version: {DEFAULT_VERSION}" in EXAMPLE
    return EXAMPLE.replace(f"api_version: {DEFAULT_VERSION}", f"api_version: {version}")


def test_the_table_is_ordered_and_consistent():
    released = [v.released for v in VERSIONS]
    assert released == sorted(released, reverse=True)
    assert len({v.version for v in VERSIONS}) == len(VERSIONS)
    for v in VERSIONS:
        assert v.expires is None or v.expires > v.released, v.version
    # The default is the newest published version and was live when the table was checked.
    assert VERSIONS[0].version == DEFAULT_VERSION
    assert check_version(DEFAULT_VERSION, CHECKED).level == "ok"


def test_the_dates_from_metas_page_are_the_ones_the_issue_quotes():
    by_name = {v.version: v for v in VERSIONS}
    assert by_name["v21.0"].expires == date(2025, 9, 9)
    assert by_name["v24.0"].expires == date(2026, 11, 10)
    assert by_name["v26.0"].released == date(2026, 7, 29)
    assert by_name["v27.0"].released == date(2026, 11, 4)


@pytest.mark.parametrize(
    ("version", "today", "level"),
    [
        ("v21.0", date(2026, 12, 2), "error"),
        ("v24.0", date(2026, 11, 10), "error"),  # the expiry day itself is already gone
        ("v24.0", date(2026, 11, 9), "warning"),
        ("v25.0", date(2027, 2, 23) - timedelta(days=WARN_DAYS), "warning"),
        ("v25.0", date(2027, 2, 23) - timedelta(days=WARN_DAYS + 1), "ok"),
        ("v26.0", date(2026, 12, 2), "ok"),  # no expiry published ("TBD")
        ("v12.0", date(2026, 12, 2), "error"),  # older than an expired version: expired too
        ("v28.0", date(2026, 12, 2), "warning"),  # not in the table: cannot be judged
    ],
)
def test_check_version(version, today, level):
    verdict = check_version(version, today)
    assert verdict.level == level, verdict.message
    if level != "ok":
        assert version in verdict.message


def test_the_loader_defaults_to_the_current_version():
    text = EXAMPLE.replace(f"      api_version: {DEFAULT_VERSION}\n", "")
    plan = load_plan_text(text, "plan.yaml")
    assert plan.destinations["meta"].settings["api_version"] == DEFAULT_VERSION


def test_loading_never_depends_on_the_date():
    # generate and serve load plans without a date: an expired version must not stop a running
    # sidecar from restarting; `sgtm plan check` is where it is judged.
    plan = load_plan_text(_with_version("v21.0"), "plan.yaml")
    assert plan.destinations["meta"].settings["api_version"] == "v21.0"


def test_an_expired_version_is_an_error_at_its_line():
    text = _with_version("v21.0")
    plan, problems = check_plan_text(text, "plan.yaml", today=date(2026, 12, 2))
    assert plan is None
    line = next(i + 1 for i, t in enumerate(text.splitlines()) if "api_version: v21.0" in t)
    assert [(p.level, p.line, p.col) for p in problems] == [("error", line, 20)]
    assert problems[0].message == (
        "destinations.meta.settings.api_version: Meta API v21.0 expired on 2025-09-09: calls "
        "to it may fail or be upgraded to another version"
    )
    assert DEFAULT_VERSION in problems[0].suggestion


def test_a_defaulted_version_is_judged_at_the_settings_key():
    text = EXAMPLE.replace(f"      api_version: {DEFAULT_VERSION}\n", "")
    _, problems = check_plan_text(text, "plan.yaml", today=date(2026, 12, 2))
    assert problems == []


def test_plan_check_cli_errors_and_warns_by_date(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text(_with_version("v24.0"), encoding="utf-8")
    assert main(["plan", "check", str(path), "--today", "2026-12-02"]) == 1
    assert "error: destinations.meta.settings.api_version: Meta API v24.0 expired" in (
        capsys.readouterr().err
    )
    assert main(["plan", "check", str(path), "--today", "2026-09-01"]) == 0
    assert "warning: destinations.meta.settings.api_version: Meta API v24.0 expires on " in (
        capsys.readouterr().err
    )
    code = main(["plan", "check", str(path), "--today", "2026-09-01", "--fail-on-warning"])
    assert code == 1
    capsys.readouterr()
    assert main(["plan", "check", str(path), "--today", "2026-09-01", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is True
    assert [p["level"] for p in document["problems"]] == ["warning"]


def test_plan_check_refuses_a_bad_date(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "check", str(EXAMPLE_PLAN), "--today", "2026-9-1"])
    assert exc.value.code == 2
    assert "is not a date like" in capsys.readouterr().err


def test_the_example_plan_is_clean_on_the_day_the_table_was_checked(capsys):
    assert main(["plan", "check", str(EXAMPLE_PLAN), "--today", CHECKED.isoformat()]) == 0
    assert capsys.readouterr().err == ""
