"""Bad input gives findings, never a traceback: any node of a valid export replaced by any JSON."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.validate import errors, validate_container
from tests.validate import make_broken_containers

BASE = make_broken_containers.base()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


PATHS = _paths(BASE)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _replace(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_replacement_is_reported_not_raised(path: tuple[Any, ...], value: Any) -> None:
    data = _replace(path, value)
    findings = validate_container(data, "fuzz.json")
    for finding in findings:
        assert str(finding).startswith("fuzz.json")
        assert finding.pointer.startswith("/") or finding.pointer == ""


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from([p for p in PATHS if p[-1] in ("type", "triggerId", "tagId", "name")]))
def test_a_wrong_kind_of_value_for_a_string_field_is_an_error(path: tuple[Any, ...]) -> None:
    data = _replace(path, ["not", "a", "string"])
    assert errors(validate_container(data, "fuzz.json"))
