"""Shape checks: an export entity against its Tag Manager API v2 schema, in export spelling.

Field names, JSON types and enum values come from the discovery document (``discovery.py``).
What the document does not say is taken from the reference (gtm-container.md): which fields an
export must carry, that exports write enums UPPER_SNAKE, and the Parameter rules of the API's
parameter reference (keys required at top level and in maps, unique; BOOLEAN is "true"/"false";
INTEGER a base-10 string; only LIST carries ``list`` and only MAP carries ``map``).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from generator.validate.discovery import Field, Schemas
from generator.validate.entities import KINDS
from generator.validate.findings import Collector, path_join, pointer_join

# Fields without which an entity cannot be imported or referred to (gtm-container.md 1.4).
REQUIRED: dict[str, tuple[str, ...]] = {
    "Tag": ("tagId", "name", "type"),
    "Trigger": ("triggerId", "name", "type"),
    "Variable": ("variableId", "name", "type"),
    "Client": ("clientId", "name", "type"),
    "Transformation": ("transformationId", "name", "type"),
    "Folder": ("folderId", "name"),
    "CustomTemplate": ("templateId", "name", "templateData"),
    "BuiltInVariable": ("type", "name"),
    "Zone": ("zoneId", "name"),
    "GtagConfig": ("gtagConfigId", "type"),
    "Parameter": ("type",),
    "Condition": ("type", "parameter"),
    "SetupTag": ("tagName",),
    "TeardownTag": ("tagName",),
    "Container": ("usageContext",),
}

# Every entity in every public export carries these, but whether the importer needs them is
# unconfirmed (gtm-container.md section 5): a warning, not an error.
EXPECTED = ("accountId", "containerId")
ENTITY_SCHEMAS = frozenset(kind.schema for kind in KINDS)

# API resources carry these; exports leave them out on entities (gtm-container.md 3.7).
API_ONLY = ("path", "workspaceId", "tagManagerUrl")

# Parameter-typed fields whose Parameter type the API docs fix.
PARAMETER_TYPE_OF = {
    ("Tag", "monitoringMetadata"): "MAP",
    ("TagConsentSetting", "consentType"): "LIST",
}

INT64 = re.compile(r"-?\d{1,19}")
HAS_REFERENCE = re.compile(r"\{\{.+?\}\}")

_JSON_KIND = {
    "string": "a string",
    "boolean": "a boolean (true/false)",
    "integer": "an integer",
    "number": "a number",
    "array": "an array",
    "object": "an object",
}


def describe(value: Any) -> str:
    """A short, type-revealing rendering of a JSON value for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return json.dumps(value)


class SchemaChecker:
    """Walks one entity against its schema, reporting to a collector under one entity label."""

    def __init__(self, schemas: Schemas, out: Collector) -> None:
        self.schemas = schemas
        self.out = out

    def check(self, value: Any, schema: str, entity: str, path: str, pointer: str) -> None:
        self._object(value, schema, entity, path, pointer)

    def check_field(
        self, value: Any, schema: str, name: str, entity: str, path: str, pointer: str
    ) -> None:
        """One property of ``schema`` (used where the caller walks the object itself)."""
        self._value(value, self.schemas.fields(schema)[name], schema, entity, path, pointer)

    def check_unknown(self, name: str, schema: str, entity: str, path: str, pointer: str) -> None:
        self.out.add(
            entity, path, pointer, self._unknown(name, schema, self.schemas.fields(schema))
        )

    # -- walking ---------------------------------------------------------------------------

    def _object(self, value: Any, schema: str, entity: str, path: str, pointer: str) -> None:
        if not isinstance(value, dict):
            self._wrong_kind(value, "object", schema, entity, path, pointer)
            return
        fields = self.schemas.fields(schema)
        for name in REQUIRED.get(schema, ()):
            if name not in value:
                self.out.add(
                    entity,
                    path_join(path, name),
                    pointer_join(pointer, name),
                    f"missing required field '{name}'",
                )
        if schema in ENTITY_SCHEMAS and not path:
            for name in EXPECTED:
                if name not in value:
                    self.out.warn(
                        entity,
                        name,
                        pointer_join(pointer, name),
                        f"missing '{name}' (every real export has it on every entity)",
                    )
        for name, item in value.items():
            sub_path, sub_pointer = path_join(path, name), pointer_join(pointer, name)
            spec = fields.get(name)
            if spec is None:
                self.out.add(entity, sub_path, sub_pointer, self._unknown(name, schema, fields))
                continue
            if schema in ENTITY_SCHEMAS and not path and name in API_ONLY:
                self.out.warn(
                    entity,
                    sub_path,
                    sub_pointer,
                    f"'{name}' is an API resource field; exports leave it out",
                )
            self._value(item, spec, schema, entity, sub_path, sub_pointer)
        if schema == "Parameter":
            self._parameter(value, entity, path, pointer)
        elif schema == "Condition":
            self._condition(value, entity, path, pointer)

    def _value(
        self, value: Any, spec: Field, schema: str, entity: str, path: str, pointer: str
    ) -> None:
        if spec.kind == "object":
            if not isinstance(value, dict):
                self._wrong_kind(value, "object", spec.ref or "", entity, path, pointer)
                return
            self._object(value, spec.ref or "", entity, path, pointer)
            want = PARAMETER_TYPE_OF.get((schema, spec.name))
            if want and isinstance(value.get("type"), str) and value["type"] != want:
                self.out.add(
                    entity,
                    path_join(path, "type"),
                    pointer_join(pointer, "type"),
                    f"must be {want} (a {spec.name} Parameter is a {want}), "
                    f"not {describe(value['type'])}",
                )
            elif want:
                self._entries(value, want, spec.name, entity, path, pointer)
            return
        if spec.kind == "array":
            if not isinstance(value, list):
                self._wrong_kind(value, "array", "", entity, path, pointer)
                return
            assert spec.items is not None
            for index, item in enumerate(value):
                self._value(
                    item,
                    spec.items,
                    schema,
                    entity,
                    path_join(path, index),
                    pointer_join(pointer, index),
                )
            if spec.items.ref == "Parameter" and spec.name in ("parameter", "map"):
                self._keyed(value, entity, path, pointer)
            return
        if not _is_kind(value, spec.kind):
            self._wrong_kind(value, spec.kind, "", entity, path, pointer)
            return
        if spec.enum and value not in spec.enum:
            self.out.add(entity, path, pointer, _enum_message(value, spec))
        elif spec.int_string and not INT64.fullmatch(value):
            self.out.add(
                entity, path, pointer, f"{describe(value)} is not a base-10 integer string (int64)"
            )

    # -- Parameter and Condition rules -------------------------------------------------------

    def _parameter(self, value: dict[str, Any], entity: str, path: str, pointer: str) -> None:
        kind = value.get("type")
        if not isinstance(kind, str):
            return
        if kind != "LIST" and "list" in value:
            self.out.add(
                entity,
                path_join(path, "list"),
                pointer_join(pointer, "list"),
                f"only a LIST parameter has 'list' (type is {kind})",
            )
        if kind != "MAP" and "map" in value:
            self.out.add(
                entity,
                path_join(path, "map"),
                pointer_join(pointer, "map"),
                f"only a MAP parameter has 'map' (type is {kind})",
            )
        if kind in ("LIST", "MAP") and "value" in value:
            self.out.add(
                entity,
                path_join(path, "value"),
                pointer_join(pointer, "value"),
                f"a {kind} parameter has no 'value'; its entries go in '{kind.lower()}'",
            )
        raw = value.get("value")
        if not isinstance(raw, str) or HAS_REFERENCE.search(raw):
            return
        if kind == "BOOLEAN" and raw not in ("true", "false"):
            self.out.add(
                entity,
                path_join(path, "value"),
                pointer_join(pointer, "value"),
                f"a BOOLEAN value is 'true' or 'false', not {describe(raw)}",
            )
        elif kind == "INTEGER" and not INT64.fullmatch(raw):
            self.out.add(
                entity,
                path_join(path, "value"),
                pointer_join(pointer, "value"),
                f"an INTEGER value is a base-10 integer string, not {describe(raw)}",
            )

    def _entries(
        self,
        value: dict[str, Any],
        container: str,
        field: str,
        entity: str,
        path: str,
        pointer: str,
    ) -> None:
        """The API docs fix the entries too: monitoringMetadata map values are TEMPLATE
        without variable references, consentType list items are strings (TEMPLATE in exports)."""
        member = container.lower()
        entries = value.get(member)
        if not isinstance(entries, list):
            return
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                continue
            sub_path = path_join(path_join(path, member), index)
            sub_pointer = pointer_join(pointer, member, index)
            if entry["type"] != "TEMPLATE":
                self.out.add(
                    entity,
                    path_join(sub_path, "type"),
                    pointer_join(sub_pointer, "type"),
                    f"{field} entries are TEMPLATE parameters, not {describe(entry['type'])}",
                )
            elif field == "monitoringMetadata" and HAS_REFERENCE.search(
                str(entry.get("value", ""))
            ):
                self.out.add(
                    entity,
                    path_join(sub_path, "value"),
                    pointer_join(sub_pointer, "value"),
                    "monitoringMetadata values cannot contain variable references",
                )

    def _keyed(self, params: list[Any], entity: str, path: str, pointer: str) -> None:
        """Top-level parameters and MAP entries need a key, unique within the list."""
        seen: dict[str, int] = {}
        for index, param in enumerate(params):
            if not isinstance(param, dict):
                continue
            key = param.get("key")
            sub_path, sub_pointer = path_join(path, index), pointer_join(pointer, index)
            if key is None:
                self.out.add(
                    entity,
                    path_join(sub_path, "key"),
                    pointer_join(sub_pointer, "key"),
                    "missing required field 'key' (top-level parameters and map entries are named)",
                )
            elif isinstance(key, str):
                if key in seen:
                    self.out.add(
                        entity,
                        path_join(sub_path, "key"),
                        pointer_join(sub_pointer, "key"),
                        f"duplicate key {key!r} (also {path_join(path, seen[key])})",
                    )
                else:
                    seen[key] = index

    def _condition(self, value: dict[str, Any], entity: str, path: str, pointer: str) -> None:
        params = value.get("parameter")
        if not isinstance(params, list):
            return
        keys = {
            p.get("key") for p in params if isinstance(p, dict) and isinstance(p.get("key"), str)
        }
        for arg in ("arg0", "arg1"):
            if arg not in keys:
                self.out.add(
                    entity,
                    path_join(path, "parameter"),
                    pointer_join(pointer, "parameter"),
                    f"missing operand '{arg}' (conditions compare arg0 with arg1)",
                )
        for index, param in enumerate(params):
            if (
                isinstance(param, dict)
                and param.get("key") in ("negate", "ignore_case")
                and isinstance(param.get("type"), str)
                and param["type"] != "BOOLEAN"
            ):
                self.out.add(
                    entity,
                    path_join(path_join(path_join(path, "parameter"), index), "type"),
                    pointer_join(pointer, "parameter", index, "type"),
                    f"the {param['key']} option is a BOOLEAN parameter, not "
                    f"{describe(param['type'])}",
                )
            if isinstance(param, dict) and param.get("key") == "arg0":
                arg0 = param.get("value")
                if isinstance(arg0, str) and not re.fullmatch(r"\{\{[^{}]+\}\}", arg0):
                    self.out.add(
                        entity,
                        path_join(path_join(path_join(path, "parameter"), index), "value"),
                        pointer_join(pointer, "parameter", index, "value"),
                        f"arg0 must be one variable reference like '{{{{Event Name}}}}',"
                        f" not {describe(arg0)}",
                    )

    # -- messages ----------------------------------------------------------------------------

    def _unknown(self, name: str, schema: str, fields: dict[str, Field]) -> str:
        close = difflib.get_close_matches(name, sorted(fields), n=1, cutoff=0.75)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown field '{name}': not in the Tag Manager API v2 {schema} schema{hint}"

    def _wrong_kind(
        self, value: Any, kind: str, ref: str, entity: str, path: str, pointer: str
    ) -> None:
        what = _JSON_KIND.get(kind, kind)
        if ref == "Parameter":
            what = 'a Parameter object such as {"type": "TEMPLATE", "value": "..."}'
        elif ref:
            what = f"an object ({ref})"
        self.out.add(entity, path, pointer, f"must be {what}, not {describe(value)}")


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _enum_message(value: str, spec: Field) -> str:
    allowed = ", ".join(sorted(spec.enum))
    message = f"{describe(value)} is not one of {allowed}"
    if value in spec.api_enum:
        message += (
            f" (that is the API spelling; exports write {spec.enum[spec.api_enum.index(value)]!r})"
        )
    return message
