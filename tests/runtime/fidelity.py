"""Public sGTM templates as fidelity inputs: fetch them into a cache outside the repository, run
their own ``___TESTS___``, and print the table of docs/runtime.md.

Third-party template code is never committed here. ``tests/runtime/fidelity.json`` names each
template by repository, commit and path, with the SHA-256 of its bytes, its scenario count, how
many pass, and why each one that fails cannot pass (a divergence explained, or a test that is
wrong as written). ``test_fidelity.py`` checks those figures against the cached files.

    python -m tests.runtime.fidelity fetch              # download from raw.githubusercontent.com
    python -m tests.runtime.fidelity fetch --from-mirror DIR   # or copy from local git mirrors
    python -m tests.runtime.fidelity table              # run every cached template, print rows

The cache is ``$SGTM_FIDELITY_CACHE`` or ``~/.cache/sgtm-companion/fidelity``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = Path(__file__).with_name("fidelity.json")
RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class Entry:
    repo: str
    commit: str
    path: str
    sha256: str
    scenarios: int
    passing: int
    # failing scenario name -> why it cannot pass (never a runtime bug left open)
    divergences: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.repo}@{self.commit[:7]}:{self.path}"

    def cached(self, cache: Path) -> Path:
        return cache / f"{self.repo.replace('/', '+')}@{self.commit}" / self.path


def cache_dir() -> Path:
    configured = os.environ.get("SGTM_FIDELITY_CACHE", "")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "sgtm-companion" / "fidelity"


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    return [Entry(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


def _from_mirror(mirror: Path, entry: Entry) -> bytes:
    repo = mirror / entry.repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{entry.commit}:{entry.path}"],
        check=True,
        capture_output=True,
    ).stdout


def _download(entry: Entry) -> bytes:
    url = RAW.format(repo=entry.repo, commit=entry.commit, path=urllib.parse.quote(entry.path))
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - fixed https host
        return answer.read()


def fetch(entries: list[Entry], cache: Path, mirror: Path | None = None) -> list[str]:
    """Fill the cache; returns one problem line per template that could not be had as pinned."""
    problems = []
    for entry in entries:
        target = entry.cached(cache)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == entry.sha256:
            continue
        try:
            body = _from_mirror(mirror, entry) if mirror else _download(entry)
        except (OSError, subprocess.CalledProcessError) as exc:
            problems.append(f"{entry.label}: cannot fetch: {exc}")
            continue
        digest = hashlib.sha256(body).hexdigest()
        if digest != entry.sha256:
            problems.append(f"{entry.label}: sha256 {digest} is not the pinned {entry.sha256}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return problems


@dataclass
class Outcome:
    scenarios: int
    passing: int
    failing: dict[str, list[str]]
    error: str | None = None


def run(entry: Entry, cache: Path) -> Outcome:
    from formats.tpl import TplError
    from runtime.engine import load_template
    from runtime.environment import Environment
    from runtime.syntax import TemplateSyntaxError
    from runtime.testing import run_tests

    try:
        template = load_template(entry.cached(cache))
    except (TplError, TemplateSyntaxError) as exc:
        return Outcome(0, 0, {}, str(exc))
    env = Environment()
    try:
        results = run_tests(template, env, timeout=10.0)
    finally:
        env.close()
    failing = {r.name: r.messages for r in results if not r.passed}
    return Outcome(len(results), len(results) - len(failing), failing)


def _table(entries: list[Entry], cache: Path) -> int:
    total = passing = 0
    for entry in entries:
        outcome = run(entry, cache)
        total += outcome.scenarios
        passing += outcome.passing
        print(
            f"| {entry.repo} @{entry.commit[:7]} `{entry.path}` | {outcome.passing} / "
            f"{outcome.scenarios} |"
        )
        if outcome.error:
            print(f"    ERROR {outcome.error}", file=sys.stderr)
        for name, messages in outcome.failing.items():
            print(f"    FAIL {name}: {' | '.join(messages)[:300]}", file=sys.stderr)
    print(f"| **total: {len(entries)} templates** | **{passing} / {total}** |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.runtime.fidelity")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="fill the cache with the pinned templates")
    get.add_argument("--from-mirror", type=Path, help="directory of OWNER+NAME/repo git mirrors")
    sub.add_parser("table", help="run the cached templates and print the docs table rows")
    args = parser.parse_args(argv)
    entries = load_manifest()
    cache = cache_dir()
    if args.command == "fetch":
        problems = fetch(entries, cache, args.from_mirror)
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{len(entries) - len(problems)} of {len(entries)} templates in {cache}")
        return 1 if problems else 0
    return _table(entries, cache)


if __name__ == "__main__":
    sys.exit(main())
