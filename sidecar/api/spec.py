"""Building blocks of the OpenAPI document that every endpoint's description uses: references,
JSON bodies, headers, the shared error answer, and the headers every answer carries. Each
blueprint's own description sits next to it (``<blueprint>_spec.py``); ``openapi.py`` assembles
them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from formats.plan.model import Plan, Source

SCHEMAS = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def header(description: str, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


RETRY_AFTER = {"Retry-After": header("seconds to wait before retrying")}


def error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": json_content(ref("Error"))}
    if headers:
        response["headers"] = headers
    return response


def answer(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": json_content(ref(schema))}
    if headers:
        response["headers"] = headers
    return response


def source_of(plan: Plan, kind: str) -> Source | None:
    return next((s for s in plan.sources.values() if s.kind == kind), None)


def settings_of(plan: Plan, kind: str, defaults: dict[str, Any]) -> dict[str, Any]:
    source = source_of(plan, kind)
    return {**defaults, **(source.settings if source is not None else {})}


def header_param(
    name: str, description: str, required: bool = False, known: Iterable[str] = ()
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if known:
        # Any value is accepted (unknown ones are acknowledged as ignored); the known ones are
        # listed for readers and for generators.
        schema = {"anyOf": [{"enum": list(known)}, schema]}
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


ORIGIN_PARAM = header_param(
    "Origin", "browser requests: an origin on the web source's allow-list (403 otherwise)"
)


# The app factory sets it on every answer, errors and 204s included.
REQUEST_ID_HEADER = {
    "description": "the caller's X-Request-Id when well-formed (8-64 of A-Za-z0-9._-), else a "
    "fresh one; quote it when reporting a problem",
    "required": True,
    "schema": {"type": "string", "minLength": 8, "maxLength": 64},
}


def error_components() -> dict[str, Any]:
    """The error answer every endpoint shares, with its per-field errors."""
    components: dict[str, Any] = {}
    components["FieldError"] = {
        "type": "object",
        "properties": {
            "pointer": {
                "type": "string",
                "description": "RFC 6901 JSON pointer in the body (a header's name for a "
                "missing header)",
            },
            "message": {"type": "string"},
        },
        "required": ["pointer", "message"],
    }
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "status": {"type": "integer"},
                    "request_id": {"type": "string"},
                    "errors": {"type": "array", "items": ref("FieldError")},
                    "errors_omitted": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "errors found but not listed (at most 20 are listed)",
                    },
                },
                "required": ["code", "message", "status", "request_id"],
            }
        },
        "required": ["error"],
    }
    return components
