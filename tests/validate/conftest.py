"""Paths shared by the validator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# CI clones the repo with shared/ beside it, exactly as on the development machine.
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "gtm-containers"
BROKEN = REPO / "tests" / "fixtures" / "broken_containers"
BASE = Path(__file__).resolve().parent / "minimal_server_container.json"


@pytest.fixture
def corpus() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the shared reference checkout is not beside the repo)")
    return CORPUS
