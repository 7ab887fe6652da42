"""Reading export text: syntax errors and duplicate keys come back as findings with line:column."""

from __future__ import annotations

import pytest

from generator.validate.jsonfile import parse_export_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "a": 2}', ["t.json:1:10: duplicate key 'a'"]),
        # Same key in a nested object, equal values and list members are not duplicates.
        ('{"a": {"a": "a"}, "b": ["a", {"a": 1}]}', []),
        ('{\n  "b": {"x": 1,\n        "x": [{"x": 0}, "x"]}\n}', ["t.json:3:9: duplicate key 'x'"]),
        # Escapes decode to the same key.
        ('{"a\\u0062": 1, "ab": 2}', ["t.json:1:16: duplicate key 'ab'"]),
        (
            '{"q\\"": {"k": 1, "k": 2, "k": 3}}',
            ["t.json:1:18: duplicate key 'k'", "t.json:1:26: duplicate key 'k'"],
        ),
    ],
)
def test_duplicate_keys(text: str, expected: list[str]) -> None:
    data, findings = parse_export_text(text, "t.json")
    assert data is not None
    assert [str(f).split(" (")[0] for f in findings] == expected


def test_syntax_error_has_line_and_column() -> None:
    data, (finding,) = parse_export_text('{\n  "a": 1,\n}', "t.json")
    assert data is None
    assert str(finding).startswith("t.json:3:1: not valid JSON:")
