"""Paths shared by the validator tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CORPUS, REPO, SHARED

__all__ = ["BASE", "BROKEN", "CORPUS", "REPO", "SHARED"]
BROKEN = REPO / "tests" / "fixtures" / "broken_containers"
BASE = Path(__file__).resolve().parent / "minimal_server_container.json"
