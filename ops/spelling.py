"""Export spelling <-> Tag Manager API spelling.

A container export is the API's ContainerVersion with every enum value in UPPER_SNAKE_CASE
(``CUSTOM_EVENT``, ``ONCE_PER_EVENT``); the API speaks camelCase (``customEvent``,
``oncePerEvent``). Which fields are enums, and which values each allows, is read from the
discovery document bundled with google-api-python-client, so the translation follows the API
instead of a hand-kept list, and an unknown value is reported with the JSON pointer of the
field rather than sent to the API to fail there.

Entity type codes (``sgtmgaaw``, ``ed``, ``cvt_...``) are plain strings in the schema and pass
through unchanged in both directions.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from pathlib import Path
from typing import Any

import googleapiclient.discovery_cache

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class SpellingError(ValueError):
    """Values the API would not accept; ``problems`` lists ``(json pointer, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {why}" for where, why in problems))


@functools.cache
def _schemas() -> dict[str, Any]:
    docs = Path(googleapiclient.discovery_cache.__file__).parent / "documents"
    with open(docs / "tagmanager.v2.json", encoding="utf-8") as fh:
        return json.load(fh)["schemas"]


def upper_snake(camel: str) -> str:
    """``oncePerEvent`` -> ``ONCE_PER_EVENT`` (the export spelling of an API enum value)."""
    return _CAMEL_BOUNDARY.sub("_", camel).upper()


@functools.cache
def _enum_table(schema: str, field: str) -> dict[str, str]:
    values = _schemas()[schema]["properties"][field]["enum"]
    return {upper_snake(v): v for v in values}


def _field_kind(schema: str, field: str) -> tuple[str, str | None]:
    """('enum'|'ref'|'refs'|'plain', referenced schema) for one property of a schema."""
    prop = _schemas()[schema]["properties"].get(field)
    if prop is None:
        return "plain", None
    if "enum" in prop:
        return "enum", None
    if "$ref" in prop:
        return "ref", prop["$ref"]
    if prop.get("type") == "array" and "$ref" in prop.get("items", {}):
        return "refs", prop["items"]["$ref"]
    return "plain", None


def to_api(schema: str, obj: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Translate one export entity (``Tag``, ``Trigger``, ...) to API spelling.

    Raises SpellingError naming every value the API does not know.
    """
    problems: list[tuple[str, str]] = []
    out = _convert(schema, obj, where, problems, to_api_side=True)
    if problems:
        raise SpellingError(problems)
    return out


def to_export(schema: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Translate one API resource to export spelling (unknown values are kept as they are)."""
    return _convert(schema, obj, "", [], to_api_side=False)


def _convert(
    schema: str,
    obj: Any,
    where: str,
    problems: list[tuple[str, str]],
    *,
    to_api_side: bool,
) -> Any:
    if not isinstance(obj, dict):
        problems.append((where or "/", f"expected a JSON object for a {schema}"))
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        here = f"{where}/{key}"
        kind, ref = _field_kind(schema, key)
        if kind == "enum":
            out[key] = _enum(schema, key, value, here, problems, to_api_side)
        elif kind == "ref" and ref is not None:
            out[key] = _convert(ref, value, here, problems, to_api_side=to_api_side)
        elif kind == "refs" and ref is not None:
            if not isinstance(value, list):
                problems.append((here, f"expected a JSON array of {ref}"))
                out[key] = value
                continue
            out[key] = [
                _convert(ref, item, f"{here}/{i}", problems, to_api_side=to_api_side)
                for i, item in enumerate(value)
            ]
        else:
            out[key] = value
    return out


def _enum(
    schema: str,
    field: str,
    value: Any,
    where: str,
    problems: list[tuple[str, str]],
    to_api_side: bool,
) -> Any:
    table = _enum_table(schema, field)
    if not isinstance(value, str):
        problems.append((where, f"expected a string, got {json.dumps(value)}"))
        return value
    if not to_api_side:
        return upper_snake(value)
    if value in table:
        return table[value]
    if value in table.values():  # already API spelling: accept it as it is
        return value
    allowed = sorted(k for k in table if not k.endswith("UNSPECIFIED"))
    close = difflib.get_close_matches(value.upper(), allowed, n=3)
    if len(allowed) <= 12:
        hint = f"expected one of {', '.join(allowed)}"
    else:
        hint = f"not among the {len(allowed)} values the API knows"
    if close:
        hint += f"; did you mean {' or '.join(close)}?"
    problems.append((where, f"{value!r} is not a {schema}.{field} value; {hint}"))
    return value
