"""`sgtm validate FILE`: check a container export before importing it.

Exit 0 when the export is valid (warnings may still be printed), 1 when it has errors or the
file cannot be read, 2 when the command line is wrong (docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.validate.container import errors, validate_file
from generator.validate.discovery import load_schemas
from generator.validate.findings import Finding


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a GTM container export (schemas, references, templates)",
        description="Check a Google Tag Manager container export against the Tag Manager API v2 "
        "schemas (export spelling), its internal references and its custom templates. "
        "Prints every finding as `FILE: ENTITY: FIELD: message`.",
    )
    parser.add_argument(
        "file", metavar="FILE", help="container export JSON (e.g. out/container.json)"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (one finding per line, the default) or one JSON document",
    )
    parser.add_argument(
        "--allow-type",
        metavar="CODE",
        action="append",
        default=[],
        help="accept this built-in tag/variable/client type code as known (repeatable)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        findings = validate_file(
            Path(args.file), args.file, allowed_types=frozenset(args.allow_type)
        )
    except OSError as exc:
        print(
            f"sgtm validate: error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    failed = errors(findings)
    if args.format == "json":
        _print_json(args.file, findings, failed)
    else:
        _print_text(args.file, findings, failed)
    return 1 if failed else 0


def _print_text(source: str, findings: list[Finding], failed: list[Finding]) -> None:
    for finding in findings:
        print(finding)
    warnings = len(findings) - len(failed)
    verdict = "invalid" if failed else "valid"
    print(
        f"{source}: {verdict} ({_count(len(failed), 'error')}, {_count(warnings, 'warning')})",
        file=sys.stderr,
    )


def _print_json(source: str, findings: list[Finding], failed: list[Finding]) -> None:
    document = {
        "file": source,
        "valid": not failed,
        "errors": len(failed),
        "warnings": len(findings) - len(failed),
        "schemaRevision": load_schemas().revision,
        "findings": [finding.to_json() for finding in findings],
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
