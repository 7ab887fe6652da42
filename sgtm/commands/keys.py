"""`sgtm keys new|rotate`: make the keysets `sgtm serve`, `sgtm token` and sGTM read.

A keyset is `{"keys": {"<key id>": "<base64 of 32 random bytes>"}}` (docs/architecture.md,
"Keys and signatures"): the first key signs, every key verifies. Rotation therefore adds the
new key *second* (it verifies everywhere before anything signs with it), then moves it first,
then drops the old one; `rotate` does the first step and says the next ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from formats import signing
from sgtm.output import add_format, print_json

_NUMBERED = re.compile(r"k(\d+)")
# Source secrets that hold keysets (docs/plan.md); the others are plain shared secrets.
KEYSET_ROLES = ("token_keys", "signing_keys")


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="make a fresh keyset, or add a key to one for rotation",
        description="Keysets hold the HMAC keys of browser tokens, request signatures and "
        "delivery to sGTM. Output is the keyset JSON itself: put it in the environment "
        "variable the plan names (or Secret Manager), never in the repository.",
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    new = sub.add_parser(
        "new",
        help="print a fresh keyset with one 32-byte key",
        description='Print {"keys": {"K": "<base64 of 32 random bytes>"}} on stdout.',
    )
    new.add_argument("--kid", default="k1", help="the key id (default: %(default)s)")
    new.set_defaults(func=cmd_new)

    rotate = sub.add_parser(
        "rotate",
        help="add a fresh key second to a keyset file (step 1 of a rotation)",
        description="Add a new key to FILE after the existing ones: it verifies at once, the "
        "current first key keeps signing. Deploy, then move the new key first, deploy, and "
        "remove the old key after the retry window (docs/deploy.md, 'Rotating keys and "
        "secrets'). FILE is rewritten atomically with its permissions kept.",
    )
    rotate.add_argument("file", metavar="FILE", help="a keyset JSON file; must exist")
    rotate.add_argument("--kid", help="the new key id (default: the next free kN)")
    add_format(rotate)
    rotate.set_defaults(func=cmd_rotate)

    env = sub.add_parser(
        "env",
        help="print throwaway values for every secret a plan names, as shell exports",
        description='For local runs only (`eval "$(sgtm keys env PLAN)"` before `sgtm serve`): '
        "a fresh keyset for each keyset the plan names (the delivery keyset with the key id the "
        "generated client accepts) and a random placeholder for each vendor credential and "
        "webhook secret. Real values come from Secret Manager (docs/deploy.md).",
    )
    env.add_argument("plan", help="path of the tracking plan YAML file")
    env.set_defaults(func=cmd_env)


def cmd_new(args: argparse.Namespace) -> int:
    try:
        print(signing.generate_keyset(args.kid))
    except ValueError as exc:
        print(f"sgtm keys new: --kid {args.kid!r}: {exc}", file=sys.stderr)
        return 2
    return 0


def next_kid(existing: list[str]) -> str:
    numbers = [int(m.group(1)) for kid in existing if (m := _NUMBERED.fullmatch(kid))]
    return f"k{max(numbers, default=0) + 1}"


def add_second(text: str, source: str, kid: str | None) -> tuple[str, str]:
    """The keyset in `text` with a fresh key appended; returns (new JSON, new key id)."""
    keyset = signing.parse_keyset(text, source=source)
    existing = list(keyset.keys)
    new_kid = kid or next_kid(existing)
    if new_kid in keyset.keys:
        raise signing.KeysetError(f"{source}: key id {new_kid!r} is already in /keys")
    fresh = json.loads(signing.generate_keyset(new_kid))["keys"]
    document = json.loads(text)
    document["keys"].update(fresh)
    return json.dumps(document, indent=2) + "\n", new_kid


def cmd_rotate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(
            f"sgtm keys rotate: {path}: no such file (make one with `sgtm keys new`)",
            file=sys.stderr,
        )
        return 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"sgtm keys rotate: {path}: cannot read: {exc}", file=sys.stderr)
        return 1
    if args.kid is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", args.kid):
        print(
            f"sgtm keys rotate: --kid {args.kid!r}: key id must be 1-64 characters of "
            "A-Z a-z 0-9 _ -",
            file=sys.stderr,
        )
        return 2
    try:
        updated, kid = add_second(text, str(path), args.kid)
    except signing.KeysetError as exc:
        print(f"sgtm keys rotate: {exc}", file=sys.stderr)
        return 1
    try:
        _replace(path, updated)
    except OSError as exc:
        print(f"sgtm keys rotate: {path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    signer = next(iter(json.loads(updated)["keys"]))
    if args.format == "json":
        print_json({"file": str(path), "added": kid, "signing": signer})
        return 0
    print(
        f"{path}: added key {kid!r} second; {signer!r} still signs. Deploy, then move {kid!r} "
        "first, deploy, and remove the old key after the retry window.",
        file=sys.stderr,
    )
    return 0


def throwaway_env(plan: Any) -> dict[str, str]:
    """Variable -> a throwaway value, for every secret the plan names."""
    from generator.render import DEFAULT_KEY_IDS

    keysets = {
        ref.env
        for source in plan.sources.values()
        for role, ref in source.secrets.items()
        if role in KEYSET_ROLES
    }
    values: dict[str, str] = {}
    for ref in plan.secret_refs():
        if ref.env in keysets:
            values[ref.env] = signing.generate_keyset("k1")
        else:
            values[ref.env] = "local-" + secrets.token_urlsafe(24)
    if plan.delivery.keys is not None:
        values[plan.delivery.keys.env] = signing.generate_keyset(DEFAULT_KEY_IDS[0])
    return values


def cmd_env(args: argparse.Namespace) -> int:
    from formats.plan import PlanError, load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    for name, value in throwaway_env(plan).items():
        print(f"export {name}={shlex.quote(value)}")
    print(f"{args.plan}: throwaway secrets for local runs only", file=sys.stderr)
    return 0


def _replace(path: Path, text: str) -> None:
    """Write next to `path` and rename over it: a crash leaves the old or the new keyset."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
