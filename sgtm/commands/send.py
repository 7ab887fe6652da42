"""`sgtm send PLAN EVENT_NAME`: post one signed test event to a running sidecar.

What a shop's backend does with the Event API, in one command: build a valid envelope for any
event of the plan (sidecar/example_event.py), sign it with the plan's server-to-server keyset
(`X-Sgtm-Signature`, docs/architecture.md) and print the sidecar's per-destination answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from formats import signing
from formats.contract import envelope_schema
from formats.plan import PlanError
from sgtm.example_event import ExampleError, build_envelope, parse_assignment

DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_UNREACHABLE = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "send",
        help="send one signed test event to a running sidecar and print its answer",
        description="Build a valid envelope for EVENT_NAME of PLAN (every required param gets "
        "a value the plan accepts; --param replaces or adds one), sign it with the keyset in "
        "the variable the plan's web source names as signing_keys, POST it to URL/v1/events "
        "and print what the sidecar decided per destination. Exit 3 when nothing answers.",
    )
    p.add_argument("plan", help="path of the tracking plan YAML file")
    p.add_argument("event", metavar="EVENT_NAME", help="an event of the plan, e.g. purchase")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a param value, parsed by its plan type (items: a JSON array); repeatable",
    )
    p.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="PURPOSE",
        help="send the event without consent for this purpose (default: all granted); repeatable",
    )
    p.add_argument("--event-id", help="the event id (default: a fresh sgtm-send-<hex>)")
    p.add_argument(
        "--url",
        default=os.environ.get("SGTM_SIDECAR_URL", DEFAULT_URL),
        help="the sidecar's base URL (default: $SGTM_SIDECAR_URL or %(default)s)",
    )
    p.add_argument(
        "--key-env",
        help="variable holding the signing keyset (default: the plan's web signing_keys)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    p.add_argument("--dry-run", action="store_true", help="print the signed envelope, send nothing")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_send)


def _signing_env(plan: Any) -> str | None:
    for source in plan.sources.values():
        ref = source.secrets.get("signing_keys") if source.kind == "web" else None
        if ref is not None:
            return str(ref.env)
    return None


def _origin(plan: Any) -> str:
    for source in plan.sources.values():
        origins = source.settings.get("origins") if source.kind == "web" else None
        if origins:
            return str(origins[0])
    return ""


def cmd_send(args: argparse.Namespace) -> int:
    # The plan loader (ruamel.yaml) and the validator (jsonschema) are imported by the command,
    # not by `sgtm --help`.
    from formats.plan.loader import load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    try:
        envelope = build_envelope(
            plan,
            args.event,
            [parse_assignment(text) for text in args.param],
            denied=tuple(args.deny),
            origin=_origin(plan),
            event_id=args.event_id,
        )
    except ExampleError as exc:
        print(f"sgtm send: {exc}", file=sys.stderr)
        return 1
    from sidecar.decision.validation import EnvelopeValidator  # jsonschema: not for --help

    checked = EnvelopeValidator(envelope_schema(plan)).check(envelope)
    if not checked.ok:
        for error in checked.errors:
            print(f"sgtm send: {error.pointer}: {error.message}", file=sys.stderr)
        return 1
    body = json.dumps(envelope).encode("utf-8")
    key_env = args.key_env or _signing_env(plan)
    if key_env is None:
        print(
            f"sgtm send: {args.plan}: no web source with signing_keys; the Event API is off",
            file=sys.stderr,
        )
        return 1
    try:
        keyset = signing.keyset_from_env(key_env)
    except signing.KeysetError as exc:
        print(f"sgtm send: {exc} (make one with `sgtm keys new`)", file=sys.stderr)
        return 1
    headers = {
        "Content-Type": "application/json",
        signing.SIGNATURE_HEADER: signing.sign_request(keyset, body),
        "User-Agent": "sgtm send",
    }
    if args.dry_run:
        _emit(args.format, {"envelope": envelope, "headers": headers}, None)
        return 0
    url = args.url.rstrip("/") + "/v1/events"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        print(f"sgtm send: --url {args.url!r}: expected an http(s) URL", file=sys.stderr)
        return 2
    status, answer, failure = post(url, body, headers, args.timeout)
    if failure is not None:
        print(f"sgtm send: {url}: {failure}", file=sys.stderr)
        return EXIT_UNREACHABLE
    report = {"url": url, "status": status, "event_id": envelope["event_id"], "answer": answer}
    _emit(args.format, report, envelope)
    if status >= 500:
        return EXIT_UNREACHABLE
    return 0 if status == 200 else 1


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, Any, str | None]:
    """(HTTP status, parsed answer, None), or (0, None, why) when nothing answered."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, _json(response.read()), None
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read()), None
    except urllib.error.URLError as exc:
        return 0, None, f"no answer: {exc.reason} (is `sgtm serve` running there?)"
    except (TimeoutError, ConnectionError, OSError) as exc:
        return 0, None, f"no answer: {exc}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")[:500]


def _emit(fmt: str, report: dict[str, Any], envelope: dict[str, Any] | None) -> None:
    if fmt == "json" or envelope is None:
        print(json.dumps(report, indent=2))
        return
    status, answer = report["status"], report["answer"]
    print(f"{envelope['event_name']} {envelope['event_id']} -> {report['url']}: HTTP {status}")
    results = answer.get("results") if isinstance(answer, dict) else None
    if status == 200 and results:
        result = results[0]
        print(f"  {result.get('status')}")
        for name, decision in sorted((result.get("destinations") or {}).items()):
            print(f"  {name:<16} {decision}")
        return
    if isinstance(answer, dict):
        print(f"  {answer.get('error', {}).get('message') or answer.get('message') or answer}")
        for error in answer.get("error", {}).get("errors", []) or answer.get("errors", []):
            print(f"  {error.get('pointer')}: {error.get('message')}")
    else:
        print(f"  {answer}")
