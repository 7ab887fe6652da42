"""docs/cli.md, enforced: walk every `sgtm` command and hold it to the one contract.

A command registered later is walked too; one that reports something must take `--format json`
or be listed (with why) in docs/cli.md's table of commands without it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from formats import signing
from sgtm.cli import build_parser, main
from sidecar.store.base import Attempt, Outcome
from sidecar.store.sqlite import SqliteStore
from tests.conftest import EXAMPLE_PLAN, REPO
from tests.store.conftest import make_record

Command = tuple[str, ...]


def walk(parser: argparse.ArgumentParser, path: Command = ()) -> Iterator[tuple[Command, bool]]:
    """(command path, is a leaf) for the root's every command and subcommand."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if path:
        yield path, not groups
    for group in groups:
        for name, sub in group.choices.items():
            yield from walk(sub, (*path, name))


def parser_of(path: Command) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = group.choices[name]
    return parser


ALL = sorted(walk(build_parser()))
LEAVES = [path for path, leaf in ALL if leaf]


def documented_without_format() -> set[Command]:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("Commands without `--format`", 1)[1].split("## Exit codes", 1)[0]
    return {
        tuple(m.group(1).split()[1:]) for m in re.finditer(r"^\| `(sgtm [a-z ]+)` \|", table, re.M)
    }


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_the_walk_finds_every_area():
    tops = {path[0] for path, _ in ALL}
    assert {"plan", "generate", "validate", "templates", "dev", "serve", "token", "worker"} <= tops
    assert {"dlq", "keys", "send", "snippet", "push", "rollout", "demo"} <= tops
    assert len(LEAVES) >= 24


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_help_on_every_command(path):
    code, out, _ = run([*path, "--help"])
    assert code == 0
    assert out.startswith("usage: sgtm " + " ".join(path))


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_an_unknown_option_is_a_bad_command_line(path):
    code, out, err = run([*path, "--no-such-option"])
    assert code == 2
    assert out == "" and "usage:" in err


@pytest.mark.parametrize("path", [p for p, leaf in ALL if not leaf], ids=" ".join)
def test_a_group_without_its_subcommand_is_a_bad_command_line(path):
    assert run(list(path))[0] == 2


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_reporting_command_takes_format_json(path):
    options = {
        option: action for action in parser_of(path)._actions for option in action.option_strings
    }
    exempt = documented_without_format()
    if path in exempt:
        assert "--format" not in options, f"{path} has --format; drop it from docs/cli.md's table"
        return
    assert "--format" in options, f"sgtm {' '.join(path)}: no --format (or list it in docs/cli.md)"
    assert set(options["--format"].choices) == {"text", "json"}
    assert options["--format"].default == "text"


def test_the_documented_exemptions_are_real_commands():
    assert documented_without_format() <= set(LEAVES)
    assert documented_without_format()  # the table was found


# -- one JSON document on stdout -----------------------------------------------------------


@pytest.fixture
def world(tmp_path, monkeypatch):
    """The example plan, its generated container, an outbox with a dead letter, keysets."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert run(["generate", str(EXAMPLE_PLAN), "-o", str(out)])[0] == 0
    outbox = str(tmp_path / "outbox.sqlite")
    store = SqliteStore(outbox)
    store.enqueue([make_record("ord-1", destinations=("meta",), order_id="1")], 3600)
    store.claim(2e9, 10, 30)
    store.record(
        "ord-1", [Outcome("meta", "aborted", Attempt(2e9, "failure", "gave up", 400))], 2e9
    )
    store.close()
    keys = tmp_path / "keys.json"
    keys.write_text(signing.generate_keyset())
    monkeypatch.setenv("WEB_TOKEN_KEYS", signing.generate_keyset())
    monkeypatch.setenv("WEB_SIGNING_KEYS", signing.generate_keyset())
    monkeypatch.setenv("SGTM_DELIVERY_KEYS", signing.generate_keyset("delivery-1"))
    old = tmp_path / "old.yaml"
    old.write_text(EXAMPLE_PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    return {"out": out, "outbox": outbox, "keys": keys, "old": old, "tmp": tmp_path}


def invocations(w: dict[str, Path | str]) -> dict[Command, list[str]]:
    plan = str(EXAMPLE_PLAN)
    out = Path(w["out"])
    outbox = str(w["outbox"])
    return {
        ("plan", "check"): ["plan", "check", plan],
        ("plan", "schema"): ["plan", "schema", plan, "-o", str(Path(w["tmp"]) / "schemas")],
        ("plan", "diff"): ["plan", "diff", str(w["old"]), plan],
        ("quarantine", "list"): ["quarantine", "list", "--outbox", outbox],
        ("plan", "ropa"): ["plan", "ropa", plan, "-o", str(Path(w["tmp"]) / "ropa")],
        ("generate",): ["generate", plan, "-o", str(out)],
        ("validate",): ["validate", str(out / "container.json")],
        ("templates", "test"): ["templates", "test", str(out / "templates" / "http.tpl")],
        ("token",): ["token", "--origin", "https://shop.acme-home.example"],
        ("keys", "rotate"): ["keys", "rotate", str(w["keys"])],
        ("send",): ["send", plan, "purchase", "--dry-run"],
        ("dlq", "list"): ["dlq", "list", "--outbox", str(w["outbox"])],
        ("dlq", "show"): ["dlq", "show", "1", "--outbox", str(w["outbox"])],
        ("dlq", "replay"): ["dlq", "replay", "--outbox", str(w["outbox"])],
        ("rollout", "status"): ["rollout", "status", plan],
        ("reconcile",): ["reconcile", "--plan", plan, "--outbox", outbox, "--from", "2026-01-01"],
        ("ledger", "show"): ["ledger", "show", "ord-1", "--plan", plan, "--outbox", outbox],
        ("ledger", "order"): ["ledger", "order", "1", "--plan", plan, "--outbox", outbox],
        ("worker",): [
            "worker",
            "--plan",
            plan,
            "--outbox",
            str(w["outbox"]),
            "--collect-url",
            "http://127.0.0.1:9/s2s/events",
            "--max-seconds",
            "0.2",
        ],  # fmt: skip
    }


# Reporting commands whose --format json needs a live dependency; their own tests run it.
COVERED_ELSEWHERE = {
    ("push",): "tests/ops/test_push.py::test_push_format_json_prints_one_document_and_no_progress",
    ("rollout", "canary"): "tests/ops/test_rollout_cloudrun.py::test_canary_format_json_...",
    ("rollout", "promote"): "needs the Cloud Run Admin API fake",
    ("rollout", "rollback"): "needs the Cloud Run Admin API fake",
    ("demo",): "tests/delivery (sgtm demo --format json); takes seconds",
    ("quarantine", "show"): "tests/webhooks/test_quarantine.py (needs a quarantined body)",
    ("quarantine", "replay"): "tests/webhooks/test_quarantine.py (needs a quarantined body)",
    ("audit", "access"): "tests/ops/test_access_review.py::test_cli_text_and_json",
}


def test_every_reporting_command_is_run_here_or_named_elsewhere(world):
    reporting = {p for p in LEAVES if p not in documented_without_format()}
    assert reporting == set(invocations(world)) | set(COVERED_ELSEWHERE)


def test_format_json_prints_exactly_one_document_on_stdout(world):
    for path, argv in invocations(world).items():
        code, out, err = run([*argv, "--format", "json"])
        assert code == 0, (path, err)
        json.loads(out)  # exactly one document: trailing text would fail here
        assert "Traceback" not in err


def test_a_step_that_cannot_run_leaves_stdout_empty(world):
    # Without credentials the step cannot run: nothing on stdout, the reason on stderr.
    code, out, err = run(["rollout", "canary", "svc", "--percent", "5", "--format", "json",
                          "--project", "p", "--key-file", str(Path(world["tmp"]) / "none.json")])  # fmt: skip
    assert code == 1 and out == "" and "key file" in err


# -- exit codes and paths --------------------------------------------------------------------


def test_a_missing_input_file_exits_1_and_is_never_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "outbx.sqlite"
    for argv in (
        ["dlq", "list", "--outbox", str(missing)],
        ["dlq", "show", "1", "--outbox", str(missing)],
        ["dlq", "replay", "--outbox", str(missing)],
        ["quarantine", "list", "--outbox", str(missing)],
        ["quarantine", "show", "1", "--outbox", str(missing)],
        ["quarantine", "replay", "--outbox", str(missing), "--plan", str(EXAMPLE_PLAN)],
        ["ledger", "show", "e1", "--outbox", str(missing)],
        ["ledger", "order", "1001", "--outbox", str(missing)],
        ["keys", "rotate", str(missing)],
        ["validate", str(missing)],
        ["plan", "check", str(missing)],
        ["templates", "test", str(missing)],
        ["worker", "--plan", str(EXAMPLE_PLAN), "--outbox", str(missing)],
    ):
        code, out, err = run(argv)
        assert code == 1, argv
        assert str(missing) in err + out, argv  # templates test reports it as an ERROR line
        assert not missing.exists(), argv
    # The default outbox path is not made either.
    monkeypatch.delenv("SGTM_OUTBOX", raising=False)
    code, _, err = run(["dlq", "list"])
    assert code == 1 and "no such outbox" in err
    assert not (tmp_path / "sgtm-outbox.sqlite").exists()


def test_a_dependency_that_does_not_answer_exits_3(monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("WEB_SIGNING_KEYS", signing.generate_keyset())
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(["send", str(EXAMPLE_PLAN), "purchase", "--url", url, "--format", "json"])
    assert code == 3 and out == "" and "no answer" in err


def test_output_cut_short_by_the_reader_is_not_an_error(monkeypatch):
    class Closed(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr("sys.stdout", Closed())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert main(["plan", "check", str(EXAMPLE_PLAN)]) == 0
