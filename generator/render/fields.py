"""Builders for the three JSON shapes a template is made of: its fields (___TEMPLATE_PARAMETERS___),
its permissions (___SERVER_PERMISSIONS___) and the container parameters that fill those fields.

Plain functions returning plain dicts in the editor's key order, so rendered JSON is stable.
"""

from __future__ import annotations

from typing import Any

from formats.tpl import encode_value

NON_EMPTY = {"type": "NON_EMPTY"}


def text(
    name: str,
    display: str,
    *,
    default: str | None = None,
    help: str = "",  # noqa: A002 - the editor's own key name
    required: bool = False,
    hint: str = "",
) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "TEXT", "name": name, "displayName": display}
    field["simpleValueType"] = True
    if hint:
        field["valueHint"] = hint
    if default is not None:
        field["defaultValue"] = default
    if help:
        field["help"] = help
    if required:
        field["valueValidators"] = [NON_EMPTY]
    return field


def select(
    name: str,
    display: str,
    items: list[tuple[str, str]],
    default: str,
    help: str = "",  # noqa: A002
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "type": "SELECT",
        "name": name,
        "displayName": display,
        "macrosInSelect": False,
        "selectItems": [{"value": v, "displayValue": d} for v, d in items],
        "simpleValueType": True,
        "defaultValue": default,
    }
    if help:
        field["help"] = help
    return field


def checkbox(name: str, text_: str, default: bool, help: str = "") -> dict[str, Any]:  # noqa: A002
    field: dict[str, Any] = {
        "type": "CHECKBOX",
        "name": name,
        "checkboxText": text_,
        "simpleValueType": True,
        "defaultValue": default,
    }
    if help:
        field["help"] = help
    return field


def table(
    name: str,
    display: str,
    columns: list[tuple[str, str]],
    help: str = "",  # noqa: A002
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "type": "SIMPLE_TABLE",
        "name": name,
        "displayName": display,
        "simpleTableColumns": [
            {
                "defaultValue": "",
                "displayName": d,
                "name": n,
                "type": "TEXT",
                "valueValidators": [NON_EMPTY],
                **({"isUnique": True} if i == 0 else {}),
            }
            for i, (n, d) in enumerate(columns)
        ],
        "newRowButtonText": "Add row",
    }
    if help:
        field["help"] = help
    return field


def group(name: str, display: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "GROUP",
        "name": name,
        "displayName": display,
        "groupStyle": "ZIPPY_CLOSED",
        "subParams": fields,
    }


def log_type() -> dict[str, Any]:
    return {
        "type": "RADIO",
        "name": "logType",
        "displayName": "Logging (JSON lines, never raw PII)",
        "radioItems": [
            {"value": "no", "displayValue": "Do not log"},
            {"value": "debug", "displayValue": "Log in debug and preview only"},
        ],
        "simpleValueType": True,
        "defaultValue": "debug",
    }


def permission(public_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "instance": {
            "key": {"publicId": public_id, "versionId": "1"},
            "param": [{"key": k, "value": encode_value(v)} for k, v in (params or {}).items()],
        }
    }
    if params:
        entry["clientAnnotations"] = {"isEditedByUser": True}
    entry["isRequired"] = True
    return entry


# ---- container parameters (export spelling) ----------------------------------------------


def p_template(key: str, value: str | None) -> dict[str, Any]:
    param: dict[str, Any] = {"type": "TEMPLATE", "key": key}
    if value is not None and value != "":
        param["value"] = value
    return param


def p_boolean(key: str, value: bool) -> dict[str, Any]:
    return {"type": "BOOLEAN", "key": key, "value": "true" if value else "false"}


def p_integer(key: str, value: int) -> dict[str, Any]:
    return {"type": "INTEGER", "key": key, "value": str(value)}


def p_rows(key: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": "LIST",
        "key": key,
        "list": [
            {"type": "MAP", "map": [p_template(k, v) for k, v in row.items()]} for row in rows
        ],
    }
