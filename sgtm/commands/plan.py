"""`sgtm plan check|schema|diff`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from formats import contract as compiler
from formats.plan.errors import PlanError, Problem


def register(subparsers: argparse._SubParsersAction) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="check, compile and compare tracking plans",
        description="Work with the tracking plan, the one source of truth.",
    )
    sub = plan.add_subparsers(dest="plan_command", metavar="SUBCOMMAND", required=True)

    check = sub.add_parser("check", help="validate a plan; every problem is reported at once")
    check.add_argument("plan", help="path of the plan YAML file")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 on warnings as well as errors"
    )
    check.add_argument(
        "--today",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="judge platform versions' expiry as of this day (default: today, UTC)",
    )
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="write JSON Schemas and the runtime policy")
    schema.add_argument("plan", help="path of the plan YAML file")
    schema.add_argument("-o", "--output", required=True, help="directory to write into")
    schema.add_argument("--format", choices=("text", "json"), default="text")
    schema.set_defaults(func=cmd_schema)

    diff = sub.add_parser(
        "diff",
        help="compare two plans; exit 1 when a change is breaking",
        description="List changes from OLD to NEW, each classified breaking or compatible. "
        "A breaking change without a major version bump is an error.",
    )
    diff.add_argument("old", help="the plan as it was")
    diff.add_argument("new", help="the plan as proposed")
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.add_argument(
        "--accept-compliance-change",
        action="store_true",
        help="acknowledge changes of region, residency, retention, currency, regions or a "
        "destination's vendor, purposes or location (listed in their own section); without "
        "it they exit 1",
    )
    diff.set_defaults(func=cmd_diff)

    ropa = sub.add_parser(
        "ropa",
        help="write the GDPR Art. 30 record of processing activities",
        description="Write ropa.md (with a Mermaid data-flow diagram and the fields sent per "
        "destination and consent state), ropa.json, recipients.csv and fields.csv, all computed "
        "from the plan.",
    )
    ropa.add_argument("plan", help="path of the plan YAML file")
    ropa.add_argument("-o", "--output", required=True, help="directory to write into")
    ropa.add_argument("--format", choices=("text", "json"), default="text")
    ropa.set_defaults(func=cmd_ropa)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-02") from None


def _print_problems(problems: list[Problem], fmt: str) -> None:
    """A plan that did not load: with --format json the one document on stdout says so (the
    CLI contract, docs/cli.md); as text every problem goes to stderr."""
    if fmt == "json":
        json.dump(
            {"valid": False, "problems": [p.as_dict() for p in problems]}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
        return
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = sum(1 for p in problems if p.level == "error")
    warnings = len(problems) - errors
    if problems:
        print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)


def _read(path: str) -> tuple[str | None, list[Problem]]:
    try:
        return Path(path).read_text(encoding="utf-8"), []
    except OSError as exc:
        return None, [Problem(path, 1, 1, f"cannot read the plan: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(path, 1, 1, f"the plan is not UTF-8: {exc.reason}")]


def cmd_check(args: argparse.Namespace) -> int:
    from formats.plan.loader import check_plan_text  # ruamel.yaml: not for --help

    text, problems = _read(args.plan)
    plan = None
    if text is not None:
        today = args.today or datetime.now(UTC).date()
        plan, problems = check_plan_text(text, args.plan, today=today)
    failed = plan is None or bool(args.fail_on_warning and problems)
    if args.format == "json":
        document: dict[str, object] = {"valid": not failed}
        if plan is not None:
            from sidecar.delivery.policy import schedule

            document.update(plan=plan.name, version=str(plan.version))
            # What the delivery worker will do per destination (docs/delivery.md).
            document["retry_schedule"] = schedule(plan)
        document["problems"] = [p.as_dict() for p in problems]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 1 if failed else 0
    _print_problems(problems, args.format)
    if not failed:
        assert plan is not None
        print(
            f"{args.plan}: plan {plan.name} {plan.version} is valid: {len(plan.events)} events, "
            f"{len(plan.destinations)} destinations, {len(plan.sources)} sources"
        )
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from formats.plan.loader import load_plan  # ruamel.yaml: imported when used

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        _print_problems(exc.problems, args.format)
        return 1
    written = write_artifacts(compiler.artifacts(plan), Path(args.output))
    if args.format == "json":
        json.dump({"written": [str(p) for p in written]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for path in written:
            print(path)
    return 0


def write_artifacts(files: dict[str, str], out: Path) -> list[Path]:
    written = []
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def cmd_diff(args: argparse.Namespace) -> int:
    from formats.plan.diff import diff_plans
    from formats.plan.loader import load_plan  # ruamel.yaml: not for --help

    plans = []
    for path in (args.old, args.new):
        try:
            plans.append(load_plan(path))
        except PlanError as exc:
            _print_problems(exc.problems, args.format)
            return 1
    report = diff_plans(plans[0], plans[1])
    if args.format == "json":
        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(report.text())
    unaccepted = report.compliance and not args.accept_compliance_change
    return 1 if report.breaking or report.errors or unaccepted else 0


def cmd_ropa(args: argparse.Namespace) -> int:
    from formats.plan.loader import load_plan  # ruamel.yaml: not for --help
    from generator.ropa import files

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        _print_problems(exc.problems, args.format)
        return 1
    written = write_artifacts(files(plan), Path(args.output))
    if args.format == "json":
        json.dump({"written": [str(p) for p in written]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for path in written:
            print(path)
    return 0
