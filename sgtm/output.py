"""The CLI contract's shared pieces (docs/cli.md): exit codes and `--format json` output.

Every command that reports something takes `--format text|json`; with json, stdout holds
exactly one JSON document and every diagnostic goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed, or the input (a file, a flag's value) is invalid
EXIT_USAGE = 2  # the command line itself is wrong (argparse's own convention)
EXIT_UNREACHABLE = 3  # a dependency did not answer: sGTM, a Google API, the storage


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default) or one JSON document on stdout",
    )


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()
