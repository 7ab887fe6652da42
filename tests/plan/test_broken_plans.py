"""Every broken plan in tests/plan/broken/ gives exactly its stored error output and exit 1.

Each ``NAME.yaml`` has one defect (``29_several_errors_at_once`` has several, to show that all
are reported in one run); ``NAME.expected`` is the exact stderr of ``sgtm plan check``, with
``{file}`` standing for the plan's path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sgtm.cli import main

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_plan_reports_exact_errors(path, capsys, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    rel = path.relative_to(repo_root).as_posix()
    code = main(["plan", "check", rel])
    captured = capsys.readouterr()
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").replace("{file}", rel)
    assert code == 1
    assert captured.err == expected
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_json_format_lists_problems(capsys, repo_root, monkeypatch):
    import json

    monkeypatch.chdir(repo_root)
    code = main(
        ["plan", "check", "tests/plan/broken/29_several_errors_at_once.yaml", "--format", "json"]
    )
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # one document on stdout, nothing on stderr
    assert captured.err == ""
    assert document["valid"] is False
    problems = document["problems"]
    assert code == 1
    assert len(problems) == 3
    assert problems[0] == {
        "file": "tests/plan/broken/29_several_errors_at_once.yaml",
        "line": 3,
        "col": 11,
        "level": "error",
        "message": "currency: 'eur' is not an ISO 4217 code",
        "suggestion": "",
    }


def test_valid_plan_exits_zero(capsys, example_plan_path):
    assert main(["plan", "check", str(example_plan_path)]) == 0
    assert "is valid: 6 events, 5 destinations, 4 sources" in capsys.readouterr().out
