"""Fixtures every test area shares: where things are, and free local ports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Tests import free_port from here; the one copy lives with the demo's and benches' harness.
from sgtm.harness import free_port as free_port

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLAN = REPO / "examples" / "shop" / "plan.yaml"
# CI clones the repository elsewhere with shared/ laid beside it, as it is for developers.
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "gtm-containers"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Hypothesis profiles: `ci` is reproducible (the same examples every run, no example database,
# the failing blob printed to replay it) and keeps the full example counts; `dev` is quicker
# for the edit-test loop. HYPOTHESIS_PROFILE picks one; by default CI=true gets `ci`.
# Tests that set max_examples themselves keep their own count under both.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


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
