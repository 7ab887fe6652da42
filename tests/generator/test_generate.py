"""`sgtm generate`: the golden tree, determinism, small diffs, and errors without tracebacks."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from formats.plan import check_plan_text
from generator.render import generate
from generator.render.templates import kinds_used
from tests.conftest import EXAMPLE_PLAN, REPO

GOLDEN = REPO / "tests" / "golden" / "shop"


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def sgtm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgtm.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_cli_output_equals_the_golden_tree(tmp_path: Path) -> None:
    result = sgtm("generate", str(EXAMPLE_PLAN), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    produced = tree(tmp_path / "out")
    golden = tree(GOLDEN)
    assert sorted(produced) == sorted(golden), "regenerate with: python -m tests.regen_golden"
    for rel, data in golden.items():
        assert produced[rel] == data, f"{rel} differs from the golden file"


def test_output_names_every_kind_and_the_compiled_artifacts(files: dict[str, str]) -> None:
    assert {
        "templates/client.tpl",
        "templates/ga4.tpl",
        "templates/meta_capi.tpl",
        "templates/google_ads.tpl",
        "templates/bigquery.tpl",
        "templates/http.tpl",
        "container.json",
        "policy.json",
        "schemas/envelope.schema.json",
        "schemas/events/purchase.schema.json",
        "README.md",
    } <= set(files)


def test_same_plan_gives_the_same_bytes(plan) -> None:
    assert generate(plan) == generate(plan)


def test_no_dates_or_tool_versions_in_the_output(files: dict[str, str]) -> None:
    import datetime

    from sgtm.cli import _version

    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    for rel, text in files.items():
        assert _version() not in text, rel
        assert today not in text, rel
    assert json.loads(files["container.json"])["exportTime"] == "2000-01-01 00:00:00"


def _plan_with(text: str):
    plan, problems = check_plan_text(text, "plan.yaml")
    assert plan is not None, [str(p) for p in problems]
    return plan


def test_adding_one_event_to_a_destination_is_a_small_readable_diff() -> None:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    changed = text.replace(
        "      purchase: Purchase\n", "      purchase: Purchase\n      refund: Refund\n", 1
    )
    assert changed != text
    before = generate(_plan_with(text))["container.json"].splitlines()
    after = generate(_plan_with(changed))["container.json"].splitlines()
    diff = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # The meta tag gains one eventMap row (a 15-line MAP) and one firing trigger id (the line
    # before it gains a comma); the refund trigger already exists, so nothing else moves.
    assert 0 < len(diff) <= 20, "\n".join(diff)
    removed = [line for line in diff if line.startswith("-")]
    assert len(removed) <= 1 and all(line.rstrip().endswith('"') for line in removed), removed
    assert any('"value": "Refund"' in line for line in diff)


def test_adding_an_event_to_the_plan_keeps_every_existing_id() -> None:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    changed = text.replace(
        "  newsletter_signup:\n    description:",
        "  search:\n    description: A search.\n    params:\n      search_term: {type: string}\n"
        "  newsletter_signup:\n    description:",
        1,
    ).replace(
        "    events: [view_item, add_to_cart, begin_checkout, purchase, refund, newsletter_signup]\n"
        "    pii: []\n    ip: none\n    settings:\n      project:",
        "    events: [view_item, add_to_cart, begin_checkout, purchase, refund, search, "
        "newsletter_signup]\n    pii: []\n    ip: none\n    settings:\n      project:",
        1,
    )
    assert changed.count("search") >= 2
    old = json.loads(generate(_plan_with(text))["container.json"])["containerVersion"]
    new = json.loads(generate(_plan_with(changed))["container.json"])["containerVersion"]

    def ids(version, kind, key):
        return {e["name"]: e[key] for e in version[kind]}

    for kind, key in (("tag", "tagId"), ("trigger", "triggerId"), ("variable", "variableId")):
        before, after = ids(old, kind, key), ids(new, kind, key)
        assert all(after[name] == value for name, value in before.items()), kind
    assert set(ids(new, "trigger", "triggerId")) - set(ids(old, "trigger", "triggerId")) == {
        "sgtm - search"
    }


def test_only_the_kinds_a_plan_uses_are_generated() -> None:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    start = text.index("  meta:\n    kind: meta_capi")
    end = text.index("sources:\n")
    plan = _plan_with(text[:start] + "\n" + text[end:])
    assert kinds_used(plan) == ["ga4"]
    files = generate(plan)
    assert sorted(p for p in files if p.startswith("templates/")) == [
        "templates/client.tpl",
        "templates/ga4.tpl",
    ]
    version = json.loads(files["container.json"])["containerVersion"]
    assert [t["name"] for t in version["tag"]] == ["sgtm - ga4 (ga4)"]
    assert len(version["customTemplate"]) == 2


def test_an_invalid_plan_exits_1_with_positions_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        EXAMPLE_PLAN.read_text(encoding="utf-8").replace("kind: meta_capi", "kind: meta_kapi"),
        encoding="utf-8",
    )
    result = sgtm("generate", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{bad}:" in result.stderr and "meta_kapi" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_plan_exits_1(tmp_path: Path) -> None:
    result = sgtm("generate", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "cannot read the plan" in result.stderr and "Traceback" not in result.stderr


def test_an_output_path_that_is_a_file_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("x", encoding="utf-8")
    result = sgtm("generate", str(EXAMPLE_PLAN), "-o", str(blocker))
    assert result.returncode == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("key_id", ["bad key", "", "x" * 65])
def test_a_bad_key_id_is_a_usage_error(tmp_path: Path, key_id: str) -> None:
    result = sgtm("generate", str(EXAMPLE_PLAN), "-o", str(tmp_path), "--key-id", key_id)
    assert result.returncode == 2
    assert "--key-id" in result.stderr


def test_key_ids_reach_the_permission_and_the_client(tmp_path: Path) -> None:
    result = sgtm(
        "generate", str(EXAMPLE_PLAN), "-o", str(tmp_path), "--key-id", "k2026", "--key-id", "k2027"
    )
    assert result.returncode == 0, result.stderr
    version = json.loads((tmp_path / "container.json").read_text(encoding="utf-8"))[
        "containerVersion"
    ]
    keys = next(p for p in version["client"][0]["parameter"] if p["key"] == "keyIds")
    assert [row["map"][0]["value"] for row in keys["list"]] == ["k2026", "k2027"]
    from formats.tpl import parse_tpl

    client = parse_tpl((tmp_path / "templates" / "client.tpl").read_text(encoding="utf-8"))
    assert client.permission("use_custom_private_keys") == {"keyIds": ["k2026", "k2027"]}


def test_files_left_from_an_earlier_run_are_reported_not_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "templates").mkdir(parents=True)
    stale = out / "templates" / "tiktok.tpl"
    stale.write_text("old", encoding="utf-8")
    result = sgtm("generate", str(EXAMPLE_PLAN), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{stale}: warning: left over from an earlier run" in result.stderr
    assert stale.read_text(encoding="utf-8") == "old"
