"""Reading an export file: strict JSON, with the places of syntax errors and duplicate keys.

Python's parser keeps the last of two equal keys in one object without a word; an export with
such a pair means something different to another reader, so it is reported at the line and
column of the repeated key.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from typing import Any

from generator.validate.findings import ERROR, Finding


def parse_export_text(text: str, source: str) -> tuple[Any, list[Finding]]:
    """``(data, findings)``; ``data`` is None when the text is not JSON at all."""
    duplicated = False

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        out = dict(pairs)
        duplicated = duplicated or len(out) != len(pairs)
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs_to_dict)
    except json.JSONDecodeError as exc:
        # The importer is a strict JSON parser that reads the first token (gtm-container.md 4).
        message = f"not valid JSON: {exc.msg}"
        return None, [Finding(source, "", "", message, "", ERROR, exc.lineno, exc.colno)]
    if not duplicated:
        return data, []
    findings = [
        Finding(
            source,
            "",
            "",
            f"duplicate key {key!r} (the same object already has it; JSON readers keep only one "
            "of the values)",
            "",
            ERROR,
            *_line_column(text, offset),
        )
        for offset, key in _duplicate_keys(text)
    ]
    return data, findings


def _duplicate_keys(text: str) -> list[tuple[int, str]]:
    """(offset of the repeated key, key) for every repeated key; a slower second pass with the
    pure-Python scanner, which lets each object report where it starts and ends."""
    found: list[tuple[int, str]] = []
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> Any:
        strict, scan_once, object_hook, _, memo = args
        repeated: list[str] = []

        def check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    repeated.append(key)
                seen.add(key)
            return dict(pairs)

        # The stdlib's pure-Python object parser: not in typeshed, stable since Python 2.7.
        result = json.decoder.JSONObject(s_and_end, strict, scan_once, object_hook, check, memo)  # type: ignore[attr-defined]
        if repeated:
            found.extend(_key_offsets(text, s_and_end[1], result[1], repeated))
        return result

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    decoder.decode(text)
    return sorted(found)


def _key_offsets(text: str, start: int, end: int, repeated: list[str]) -> list[tuple[int, str]]:
    """Offsets of the second and later occurrences of ``repeated`` keys among the direct keys
    of the object spanning ``text[start:end]`` (``start`` just after its "{")."""
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    depth, index = 0, start
    while index < end:
        char = text[index]
        if char == '"':
            key, after = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
            rest = after
            while rest < end and text[rest] in " \t\r\n":
                rest += 1
            if depth == 0 and rest < end and text[rest] == ":":
                if key in seen and key in repeated:
                    out.append((index, key))
                seen.add(key)
            index = after
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        index += 1
    return out


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
