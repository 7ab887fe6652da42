"""``sgtm templates test TPL...`` and ``sgtm dev CONTAINER.json``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    templates = subparsers.add_parser("templates", help="work with sGTM custom templates (.tpl)")
    sub = templates.add_subparsers(dest="templates_command", metavar="SUBCOMMAND")
    test = sub.add_parser(
        "test",
        help="run the ___TESTS___ scenarios of templates in the local sandbox",
        description="Run each template's ___TESTS___ scenarios with GTM's test API. Prints one "
        "line per scenario and 'N passed, M failed'; exits 0 only when all pass.",
    )
    test.add_argument("templates", nargs="+", metavar="TPL", help=".tpl files")
    test.add_argument("-k", dest="match", help="only scenarios whose name contains this text")
    test.add_argument("-v", "--verbose", action="store_true", help="also print template logs")
    test.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per scenario before it is stopped"
    )
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

    passed = failed = 0
    for path in args.templates:
        try:
            template = load_template(path)
        except (TplError, TemplateSyntaxError) as exc:
            print(f"ERROR {exc}")
            failed += 1
            continue
        env = Environment(debug=True)
        chosen = [
            s for s in scenarios(template) if not args.match or args.match in str(s.get("name"))
        ]
        try:
            results = [run_scenario(template, s, env, args.timeout) for s in chosen]
        finally:
            env.close()
        if not results:
            print(f"{path}: no scenarios")
        for result in results:
            status = "PASS" if result.passed else "FAIL"
            print(f"{status} {path} :: {result.name}")
            for message in result.messages:
                print(f"    {message}")
            if args.verbose:
                for line in result.logs:
                    print(f"    log: {line}")
            passed += result.passed
            failed += not result.passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def _dev(args: argparse.Namespace) -> int:
    from runtime.dev import run

    return run(args)
