"""``sgtm templates test TPL...`` and ``sgtm dev CONTAINER.json``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sgtm.output import add_format, print_json


def register(subparsers: Any) -> None:
    templates = subparsers.add_parser("templates", help="work with sGTM custom templates (.tpl)")
    sub = templates.add_subparsers(dest="templates_command", metavar="SUBCOMMAND")
    test = sub.add_parser(
        "test",
        help="run the ___TESTS___ scenarios of templates in the local sandbox",
        description="Run each template's ___TESTS___ scenarios with GTM's test API. Prints one "
        "line per scenario and 'N passed, M failed'; exits 0 only when all pass. Uses of "
        "methods or syntax that Google's sandbox documentation does not cover are printed as "
        "portability warnings (file:line:col); --strict counts each as a failure.",
    )
    test.add_argument("templates", nargs="+", metavar="TPL", help=".tpl files")
    test.add_argument("-k", dest="match", help="only scenarios whose name contains this text")
    test.add_argument("-v", "--verbose", action="store_true", help="also print template logs")
    test.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per scenario before it is stopped"
    )
    test.add_argument(
        "--strict",
        action="store_true",
        help="fail on portability warnings (methods and syntax Google's sandbox documentation "
        "does not cover, which may not run in GTM)",
    )
    add_format(test)
    test.set_defaults(func=_test)
    templates.set_defaults(func=lambda _args: (templates.print_help(), 2)[1])

    dev = subparsers.add_parser(
        "dev",
        help="serve a server container export locally",
        description="Serve a server-container export on 127.0.0.1: clients claim requests, "
        "triggers fire tags, outbound requests go only to --route stand-ins.",
    )
    dev.add_argument("container", metavar="CONTAINER.json")
    dev.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any free)")
    dev.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="HOST=http://127.0.0.1:PORT",
        help="send a destination host's requests to a local stand-in (repeatable)",
    )
    dev.add_argument("--debug", action="store_true", help="print tag logs to stderr")
    dev.add_argument("--timeout", type=float, default=10.0, help="seconds per template run")
    dev.set_defaults(func=_dev)


# The sandbox modules are imported by the commands, not at registration: esprima alone takes over
# a second to import, and every `sgtm` invocation builds this parser.
def _test(args: argparse.Namespace) -> int:
    from formats.tpl import TplError
    from runtime.engine import load_template
    from runtime.environment import Environment
    from runtime.syntax import TemplateSyntaxError
    from runtime.testing import run_scenario, scenarios

    # With --format json the lines below go to stderr and one document goes to stdout.
    text = args.format == "text"
    say = print if text else _stderr
    report: list[dict[str, Any]] = []
    passed = failed = 0
    for path in args.templates:
        try:
            template = load_template(path)
        except (TplError, TemplateSyntaxError) as exc:
            say(f"ERROR {exc}")
            report.append({"template": path, "error": str(exc), "scenarios": []})
            failed += 1
            continue
        for warning in template.tpl.warnings:
            say(f"WARNING {warning}")
        # Each use of what Google does not document: a warning, or with --strict a failure.
        label = "ERROR" if args.strict else "WARNING"
        portability = [
            f"{problem.source}:{problem.line}:{problem.column}: portability: {problem.message}"
            for problem in template.warnings
        ]
        for line in portability:
            say(f"{label} {line}")
        if args.strict:
            failed += len(template.warnings)
        env = Environment(debug=True)
        chosen = [
            s for s in scenarios(template) if not args.match or args.match in str(s.get("name"))
        ]
        try:
            results = [run_scenario(template, s, env, args.timeout) for s in chosen]
        finally:
            env.close()
        if not results:
            say(f"{path}: no scenarios")
        for result in results:
            status = "PASS" if result.passed else "FAIL"
            say(f"{status} {path} :: {result.name}")
            for message in result.messages:
                say(f"    {message}")
            if args.verbose:
                for line in result.logs:
                    say(f"    log: {line}")
            passed += result.passed
            failed += not result.passed
        report.append(
            {
                "template": path,
                "warnings": [str(w) for w in template.tpl.warnings] + portability,
                "scenarios": [
                    {"name": r.name, "passed": r.passed, "messages": list(r.messages)}
                    for r in results
                ],
            }
        )
    if text:
        print(f"{passed} passed, {failed} failed")
    else:
        print_json({"passed": passed, "failed": failed, "templates": report})
    return 0 if failed == 0 else 1


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _dev(args: argparse.Namespace) -> int:
    from runtime.dev import run

    return run(args)
