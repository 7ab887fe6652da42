"""The Tag Manager API v2 schemas, read from google-api-python-client's bundled discovery document.

The validator checks exports against the same document the API client uses, so a new API
revision (new fields, new enum values) reaches the validator with a dependency upgrade and no
hand-kept copy goes stale. Exports spell enum values differently from the API
(``oncePerEvent`` -> ``ONCE_PER_EVENT``); ``export_enum`` does that conversion.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

DOCUMENT = "discovery_cache/documents/tagmanager.v2.json"

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class Field:
    """One property of a schema: its JSON kind and what it holds."""

    name: str
    kind: str  # "string", "boolean", "integer", "number", "array" or "object"
    ref: str | None = None  # schema name when kind is "object" (or the items' schema)
    items: Field | None = None  # element description when kind is "array"
    enum: tuple[str, ...] = ()  # allowed values in export spelling
    api_enum: tuple[str, ...] = ()  # the same values as the API spells them
    int_string: bool = False  # a string carrying a 64-bit integer (discovery "format": "int64")


@dataclass(frozen=True)
class Schemas:
    revision: str
    schemas: dict[str, dict[str, Field]]

    def fields(self, schema: str) -> dict[str, Field]:
        return self.schemas[schema]


def export_enum(api_value: str) -> str:
    """``oncePerEvent`` -> ``ONCE_PER_EVENT``: how container exports write an API enum value."""
    return _WORD_START.sub("_", api_value).upper()


def _field(name: str, spec: dict[str, Any]) -> Field:
    if "$ref" in spec:
        return Field(name, "object", ref=spec["$ref"])
    kind = spec.get("type", "string")
    if kind == "array":
        return Field(name, "array", items=_field(name, spec.get("items", {})))
    # The "...Unspecified" sentinel is the proto default, never a value a user sets.
    api_enum = tuple(v for v in spec.get("enum", ()) if not v.endswith("Unspecified"))
    return Field(
        name,
        kind,
        enum=tuple(export_enum(v) for v in api_enum),
        api_enum=api_enum,
        int_string=kind == "string" and spec.get("format") in ("int64", "uint64"),
    )


def parse_document(document: dict[str, Any]) -> Schemas:
    schemas = {
        name: {prop: _field(prop, spec) for prop, spec in body.get("properties", {}).items()}
        for name, body in document["schemas"].items()
    }
    return Schemas(revision=str(document.get("revision", "")), schemas=schemas)


@lru_cache(maxsize=1)
def load_schemas() -> Schemas:
    """The schemas of the installed google-api-python-client (parsed once per process)."""
    text = files("googleapiclient").joinpath(DOCUMENT).read_text(encoding="utf-8")
    return parse_document(json.loads(text))
