"""`sgtm validate` exit codes and output formats, through the module's own parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sgtm.commands import validate as cli
from tests.validate.conftest import BASE, BROKEN


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sgtm")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", *argv])
    return args.func(args)


def test_valid_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(BASE)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"{BASE}: valid (0 errors, 0 warnings)"


def test_invalid_exits_1_and_prints_every_finding(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "duplicate_trigger_ids.json"
    assert _run([str(path)]) == 1
    captured = capsys.readouterr()
    expected = (BROKEN / "duplicate_trigger_ids.expected").read_text("utf-8")
    assert captured.out == expected.replace(path.name, str(path))
    assert captured.err.strip() == f"{path}: invalid (2 errors, 0 warnings)"


def test_warnings_only_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(BROKEN / "disabled_builtin_variable.json")]) == 0
    assert "warning: {{Request Path}}" in capsys.readouterr().out


def test_not_json_exits_1_with_line_and_column(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "not_json.json"
    assert _run([str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}:28:17: not valid JSON:")


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "unknown_cvt_type.json"
    assert _run([str(path), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False and document["errors"] == 1 and document["warnings"] == 0
    assert document["schemaRevision"].isdigit()
    (finding,) = document["findings"]
    assert finding["entity"] == 'tag "Webhook - purchase" (tagId 10)'
    assert finding["path"] == "type"
    assert finding["pointer"] == "/containerVersion/tag/0/type"
    assert finding["severity"] == "error"


def test_allow_type_accepts_an_unlisted_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BROKEN / "unknown_builtin_tag_type.json")
    assert _run([path]) == 1
    assert _run([path, "--allow-type", "ga4"]) == 0


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Invalid input, as for `sgtm plan check`; 2 is only for a wrong command line.
    assert _run([str(tmp_path / "nope.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_bad_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        _run([str(BASE), "--format", "yaml"])
    assert exc.value.code == 2


def test_registered_in_the_sgtm_command() -> None:
    from sgtm.cli import COMMAND_MODULES
    from sgtm.commands import validate

    assert validate in COMMAND_MODULES
