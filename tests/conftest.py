"""Fixtures every test area shares: where things are, and free local ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLAN = REPO / "examples" / "shop" / "plan.yaml"
# CI clones the repository elsewhere with shared/ laid beside it, as it is for developers.
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
    if not SHARED.is_dir():
        pytest.skip("../shared (reference corpus) is not laid beside this checkout")
    return SHARED
