"""``sgtm snippet PLAN -o FILE``: the browser snippet that posts the identity context.

The snippet is rendered from ``templates/snippets/context.js.jinja`` with what the plan
knows (the GA4 stream's session cookie name, the purposes) and two deployment facts given on
the command line (the sidecar's URL, the CMP cookie holding a TC string). Output is
deterministic: the same plan and options give the same bytes.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from formats.plan import PlanError
from formats.plan.model import Plan
from generator.render.env import render

TEMPLATE = "snippets/context.js.jinja"
_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?")
_COOKIE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class SnippetOptions:
    endpoint: str  # the sidecar's base URL, e.g. https://sgtm.shop.example
    cmp_cookie: str = ""  # a first-party cookie holding an IAB TC string, e.g. euconsent-v2


def ga_session_cookie(plan: Plan) -> str:
    """``_ga_<stream id>``: the GA4 destination's measurement id without its ``G-``."""
    for dest in plan.destinations.values():
        measurement = dest.settings.get("measurement_id") if dest.kind == "ga4" else None
        if isinstance(measurement, str) and measurement.startswith("G-"):
            return "_ga_" + measurement[2:]
    return ""


def render_snippet(plan: Plan, options: SnippetOptions) -> str:
    if not _URL.fullmatch(options.endpoint):
        raise ValueError(
            f"--endpoint: {options.endpoint!r} is not an http(s) URL like https://sgtm.shop.example"
        )
    if options.cmp_cookie and not _COOKIE.fullmatch(options.cmp_cookie):
        raise ValueError(f"--cmp-cookie: {options.cmp_cookie!r} is not a cookie name")
    # The one generator environment: `jsvalue` writes JSON literals with "</" escaped.
    return render(
        TEMPLATE,
        plan_name=plan.name,
        plan_version=str(plan.version),
        endpoint=options.endpoint.rstrip("/"),
        ga_session_cookie=ga_session_cookie(plan),
        cmp_cookie=options.cmp_cookie,
        purposes=list(plan.purposes),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "snippet",
        help="write the browser snippet that posts the identity context at checkout",
        description="Render the checkout snippet (docs/webhooks.md) for PLAN.",
    )
    parser.add_argument("plan", help="path of the tracking plan YAML file")
    parser.add_argument("-o", "--output", required=True, help="file to write (- for stdout)")
    parser.add_argument(
        "--endpoint",
        required=True,
        help="the sidecar's public base URL, e.g. https://sgtm.shop.example",
    )
    parser.add_argument(
        "--cmp-cookie",
        default="",
        help="a first-party cookie holding the CMP's IAB TC string (e.g. euconsent-v2)",
    )
    parser.set_defaults(func=cmd_snippet)


def cmd_snippet(args: argparse.Namespace) -> int:
    from formats.plan.loader import load_plan  # ruamel.yaml: not for `sgtm --help`

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    try:
        text = render_snippet(plan, SnippetOptions(args.endpoint, args.cmp_cookie))
    except ValueError as exc:
        print(f"sgtm snippet: {exc}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"sgtm snippet: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
