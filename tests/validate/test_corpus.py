"""Every real export in ../shared/corpus/gtm-containers/ is accepted with no finding at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.validate import load_export, validate_container
from tests.validate.conftest import CORPUS


def _manifest() -> list[dict]:
    path = CORPUS / "MANIFEST.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else []


def test_manifest_lists_server_and_web_exports(corpus: Path) -> None:
    entries = _manifest()
    kinds = {entry["usageContext"][0] for entry in entries}
    assert len(entries) >= 11 and kinds == {"SERVER", "WEB"}
    assert sorted(entry["file"] for entry in entries) == sorted(
        p.name for p in corpus.glob("*.json") if p.name != "MANIFEST.json"
    )


@pytest.mark.parametrize(
    "entry",
    _manifest() or [pytest.param(None, id="absent")],
    ids=lambda e: e["file"] if e else "absent",
)
def test_real_export_is_valid(corpus: Path, entry: dict | None) -> None:
    assert entry is not None, f"{CORPUS}/MANIFEST.json is missing"
    data, unreadable = load_export(corpus / entry["file"], entry["file"])
    assert unreadable == []
    findings = validate_container(data, entry["file"])
    assert [str(f) for f in findings] == []
    # The file really is what the manifest says, so "valid" covers web and server alike.
    assert data["containerVersion"]["container"]["usageContext"] == entry["usageContext"]
    for kind, count in entry["counts"].items():
        assert len(data["containerVersion"].get(kind, [])) == count
