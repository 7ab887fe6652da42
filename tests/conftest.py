"""Fixtures every test area shares: where things are, and free local ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLAN = REPO / "examples" / "shop" / "plan.yaml"
# CI clones the repository elsewhere with shared/ laid beside it, as it is for developers.
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "gtm-containers"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_dir(path: Path, what: str, in_ci: bool = IN_CI) -> Path:
    """``path``, or the test stops: skipped on a developer's machine, failed under CI=true
    (where the shared reference checkout is always laid beside the clone)."""
    if not path.is_dir():
        message = f"{path} is absent: {what} is not laid beside this checkout"
        if in_ci:
            pytest.fail(f"{message}; under CI=true that is a failure, not a skip")
        pytest.skip(message)
    return path


def corpus_path() -> Path:
    return require_dir(CORPUS, "the reference corpus (../shared/corpus/gtm-containers)")


def corpus_exports(usage_context: str | None = None) -> list[Any]:
    """Export file names for parametrize (optionally only SERVER or WEB ones). When the corpus
    is absent this is one ``corpus-absent`` case, so the test runs, asks for the ``corpus``
    fixture and is skipped, or failed under CI, instead of vanishing as an empty set."""
    if not CORPUS.is_dir():
        return [pytest.param("absent", id="corpus-absent")]
    names = []
    for path in sorted(CORPUS.glob("*.json")):
        if path.name == "MANIFEST.json":
            continue
        if usage_context is not None:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if usage_context not in doc["containerVersion"]["container"]["usageContext"]:
                continue
        names.append(path.name)
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def example_plan_path() -> Path:
    return EXAMPLE_PLAN


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_dir(SHARED, "../shared (the reference checkout)")


@pytest.fixture(scope="session")
def corpus() -> Path:
    return corpus_path()
