"""The `sgtm` command line.

Each area of the project keeps its sub-commands in its own module under ``sgtm.commands``
(plus the demo), imported here statically so every tool sees the edges. A module listed here
defines ``register(subparsers)``; each registered parser sets ``func`` to a callable taking the
parsed arguments and returning the exit code.

The contract every command keeps is docs/cli.md (enforced by tests/test_cli_contract.py):
`--help` everywhere; `--format json` on every command that reports something (one JSON document
on stdout, diagnostics on stderr); exit 0 success, 1 a failed check or invalid input, 2 a wrong
command line (argparse's own convention), 3 a dependency that did not answer
(generator/cli_output.py); a path that must exist and does not is an error, never created.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from generator.render import snippet
from ops import access_review
from sgtm import demo
from sgtm.commands import (
    dlq,
    generate,
    keys,
    ops,
    plan,
    quarantine,
    reconcile,
    runtime,
    send,
    sidecar,
    validate,
)

# In the order `sgtm --help` lists them.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    generate,
    plan,
    ops,
    access_review,
    validate,
    runtime,
    sidecar,
    dlq,
    keys,
    send,
    reconcile,
    quarantine,
    snippet,
    demo,
)

EPILOG = """\
Typical flow:
  sgtm plan check examples/shop/plan.yaml      validate the tracking plan
  sgtm generate examples/shop/plan.yaml -o out compile templates, container and schemas
  sgtm validate out/container.json             check a container export before importing it
  eval "$(sgtm keys env examples/shop/plan.yaml)"   throwaway secrets for a local run
  sgtm serve examples/shop/plan.yaml           run the sidecar locally
  sgtm send examples/shop/plan.yaml purchase   send it one signed test event
  sgtm demo                                    the whole loop on this machine

Run `sgtm COMMAND --help` for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgtm",
        description="sgtm-companion: server-side tagging for ecommerce, from one tracking plan. "
        "Compile the plan into sGTM templates and a server container, test them locally, and "
        "run the sidecar that verifies, decides consent, queues and delivers events.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


class _VersionAction(argparse.Action):
    """argparse's ``version`` action, but looking the version up only when asked: the lookup
    (importlib.metadata) costs more than the rest of ``sgtm --help``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_kw: object) -> None:
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        print(_version())
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"sgtm-companion {version('sgtm-companion')}"
    except PackageNotFoundError:  # running from a checkout without an install
        return "sgtm-companion (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `sgtm ... | head`: the reader left; not an error of ours, and no traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
