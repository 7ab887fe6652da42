"""`sgtm generate PLAN -o OUT`: templates, container export, schemas, policy and README."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from generator.render.templates import DEFAULT_KEY_IDS
from generator.validate.credentials import empty_credentials
from sgtm.commands.plan import _print_problems, _read

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="compile a plan into sGTM templates and an importable server container",
        description="Write OUT/templates/*.tpl, OUT/container.json, OUT/schemas/, "
        "OUT/policy.json and OUT/README.md. The same plan always gives the same bytes.",
    )
    parser.add_argument("plan", help="path of the plan YAML file")
    parser.add_argument("-o", "--output", required=True, help="directory to write into")
    parser.add_argument(
        "--key-id",
        action="append",
        dest="key_ids",
        metavar="ID",
        help="key id of the SGTM_CREDENTIALS key file the client accepts (repeat for a "
        f"rotation; default: {', '.join(DEFAULT_KEY_IDS)})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    key_ids = tuple(args.key_ids or DEFAULT_KEY_IDS)
    for key_id in key_ids:
        if not KEY_ID.match(key_id):
            print(
                f"sgtm generate: --key-id {key_id!r}: use 1-64 letters, digits, '.', '_' or '-'",
                file=sys.stderr,
            )
            return 2
    if len(set(key_ids)) != len(key_ids):
        print("sgtm generate: --key-id values must be distinct", file=sys.stderr)
        return 2

    text, problems = _read(args.plan)
    plan = None
    if text is not None:
        from formats.plan.loader import check_plan_text  # ruamel.yaml: not for --help

        plan, problems = check_plan_text(text, args.plan)
    if plan is None:
        _print_problems(problems, args.format)
        return 1
    from generator.render import generate  # Jinja: not for `sgtm --help`

    files = generate(plan, key_ids)
    out = Path(args.output)
    try:
        written = write_tree(files, out)
    except OSError as exc:
        where = exc.filename or args.output
        print(f"{where}: cannot write: {exc.strerror}", file=sys.stderr)
        return 1
    # The container's credential constants are empty by design (secrets never enter the
    # export): say which ones must be filled before publishing.
    version = json.loads(files["container.json"])["containerVersion"]
    for line in empty_credentials(version, str(out / "container.json")):
        print(line, file=sys.stderr)
    for path in stale_files(files, out):
        print(
            f"{path}: warning: left over from an earlier run, not part of plan {plan.name} "
            f"{plan.version}; delete it so nobody imports it",
            file=sys.stderr,
        )
    if args.format == "json":
        json.dump({"written": [str(p) for p in written]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for path in written:
            print(path)
        print(
            f"{args.plan}: plan {plan.name} {plan.version} -> {out} "
            f"({len(files)} files); import {out / 'container.json'} (see {out / 'README.md'})",
            file=sys.stderr,
        )
    return 0


def stale_files(files: dict[str, str], out: Path) -> list[Path]:
    """Generated-looking files in OUT this run did not write (a destination kind or event the
    plan no longer has). Reported, never deleted: OUT may hold the user's own files."""
    found = []
    for pattern in ("templates/*.tpl", "schemas/events/*.schema.json"):
        for path in sorted(out.glob(pattern)):
            if path.relative_to(out).as_posix() not in files:
                found.append(path)
    return found


def write_tree(files: dict[str, str], out: Path) -> list[Path]:
    written = []
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, not text mode: the .tpl layout is LF-only on every platform.
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written
