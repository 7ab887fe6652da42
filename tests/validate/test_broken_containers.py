"""One defect per file in tests/fixtures/broken_containers/, each with its exact finding lines.

``<case>.json`` is built from ``minimal_server_container.json`` by ``make_broken_containers``;
``<case>.expected`` holds the lines ``sgtm validate <case>.json`` prints, written by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.validate import errors, load_export, validate_container, validate_file
from tests.validate import make_broken_containers
from tests.validate.conftest import BASE, BROKEN

CASES = sorted(p.stem for p in BROKEN.glob("*.json"))
# Kinds of defect the folder must keep covering (the list and then some).
REQUIRED_KINDS = {
    "unknown_field",
    "wrong_type_boolean",
    "bad_enum_parameter_type",
    "dangling_firing_trigger",
    "unresolved_variable",
    "unknown_cvt_type",
    "bad_template_info_json",
    "bad_template_tests_yaml",
    "missing_required_field",
    "wrong_export_format_version",
    "dangling_folder_id",
    "duplicate_trigger_ids",
    "parameter_bare_string",
    "template_slot_mismatch",
    "unknown_builtin_tag_type",
}


def _findings(case: str) -> list[Any]:
    path = BROKEN / f"{case}.json"
    return validate_file(path, path.name)


def test_base_is_valid_and_clean() -> None:
    data, unreadable = load_export(BASE, BASE.name)
    assert unreadable == [] and validate_container(data, BASE.name) == []


def test_folder_covers_every_required_kind() -> None:
    assert REQUIRED_KINDS <= set(CASES)
    assert len(CASES) >= 15
    for case in CASES:
        assert (BROKEN / f"{case}.expected").is_file(), f"{case}.json has no .expected file"


@pytest.mark.parametrize("case", CASES)
def test_expected_findings(case: str) -> None:
    expected = (BROKEN / f"{case}.expected").read_text("utf-8").splitlines()
    assert expected, f"{case}.expected is empty: a broken fixture must produce findings"
    assert [str(f) for f in _findings(case)] == expected


@pytest.mark.parametrize("case", sorted(make_broken_containers.CASES))
def test_fixture_matches_its_builder(case: str) -> None:
    """The committed input is exactly one mutation of the committed base."""
    on_disk = json.loads((BROKEN / f"{case}.json").read_text("utf-8"))
    assert on_disk == make_broken_containers.build(case)
    assert json.loads(BASE.read_text("utf-8")) == make_broken_containers.base()


@pytest.mark.parametrize("case", CASES)
def test_pointers_lead_into_the_document(case: str) -> None:
    """Each finding's JSON pointer names a real place: the value, or the object missing it."""
    path = BROKEN / f"{case}.json"
    data, unreadable = load_export(path)
    assert all(f.line and f.column for f in unreadable)
    if data is None:
        return
    for finding in validate_container(data, path.name):
        node: Any = data
        parts = [p.replace("~1", "/").replace("~0", "~") for p in finding.pointer.split("/")[1:]]
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                node = node[int(part)]
            elif last and part not in node:
                assert "missing" in finding.message, finding
            else:
                node = node[part]


def test_errors_exclude_warnings() -> None:
    findings = _findings("disabled_builtin_variable")
    assert findings and errors(findings) == []
    assert all(f.severity == "warning" for f in findings)
    assert errors(_findings("unknown_cvt_type"))
