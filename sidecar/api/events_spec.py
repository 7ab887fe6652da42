"""The Event API's description (``POST /v1/events``): the request schema is the compiled plan's
envelope schema (JSON Schema 2020-12, which OpenAPI 3.1 uses as is); its ``$defs`` move to
``components/schemas`` and the references follow, so tools resolve every ``$ref`` from the
document root."""

from __future__ import annotations

import copy
from typing import Any

from formats.contract import envelope_schema
from formats.plan.model import Plan
from sidecar.api.spec import (
    ORIGIN_PARAM,
    RETRY_AFTER,
    SCHEMAS,
    answer,
    error_response,
    json_content,
    ref,
)
from sidecar.decision.consent import ANONYMIZED, BLOCKED, NOT_IN_ROLLOUT, QUEUED, SKIPPED
from sidecar.ingest import ACCEPTED, DUPLICATE, REJECTED


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = SCHEMAS + prefix + value[len("#/$defs/") :]
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def components(plan: Plan, max_batch: int) -> dict[str, Any]:
    """The envelope (from the plan's compiled schema), a batch of them, and the answer."""
    schema = copy.deepcopy(envelope_schema(plan))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    components: dict[str, Any] = {
        f"Envelope_{name}": _rewrite_refs(value, "Envelope_") for name, value in defs.items()
    }
    components["Envelope"] = _rewrite_refs(schema, "Envelope_")
    components["Batch"] = {
        "type": "array",
        "items": ref("Envelope"),
        "minItems": 1,
        "maxItems": max_batch,
    }
    outcomes = [QUEUED, BLOCKED, ANONYMIZED, NOT_IN_ROLLOUT, *SKIPPED]
    components["EventResult"] = {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "event_id": {"type": ["string", "null"]},
            "status": {"enum": [ACCEPTED, DUPLICATE, REJECTED]},
            "errors": {"type": "array", "items": ref("FieldError")},
            "destinations": {"type": "object", "additionalProperties": {"enum": outcomes}},
            "stripped": {
                "type": "integer",
                "minimum": 0,
                "description": "members removed because the plan does not declare them",
            },
            "errors_omitted": {
                "type": "integer",
                "minimum": 1,
                "description": "errors found but not listed (at most 20 are listed per event, "
                "fewer once the answer lists 100); absent when none",
            },
        },
        "required": ["index", "event_id", "status", "errors", "destinations", "stripped"],
    }
    components["Results"] = {
        "type": "object",
        "properties": {"results": {"type": "array", "items": ref("EventResult")}},
        "required": ["results"],
    }
    return components


def paths(max_body_bytes: int) -> dict[str, Any]:
    return {
        "/v1/events": {
            "post": {
                "operationId": "postEvents",
                "summary": "Send one envelope or a batch",
                "security": [{"browserToken": []}, {"requestSignature": []}],
                "parameters": [ORIGIN_PARAM],
                "requestBody": {
                    "required": True,
                    "description": f"at most {max_body_bytes} bytes",
                    "content": json_content({"oneOf": [ref("Envelope"), ref("Batch")]}),
                },
                "responses": {
                    "200": answer("one result per event", "Results"),
                    "400": error_response("malformed JSON, or an invalid single envelope"),
                    "401": error_response("missing or invalid credentials"),
                    "403": error_response("origin not allowed"),
                    "404": error_response("the plan declares no web source"),
                    "413": error_response("body or batch too large"),
                    "415": error_response("not application/json"),
                    "429": error_response("rate limited", RETRY_AFTER),
                    "503": error_response("outbox unavailable; retry", RETRY_AFTER),
                },
            },
            "options": {
                "operationId": "preflightEvents",
                "summary": "CORS preflight",
                "parameters": [ORIGIN_PARAM],
                "responses": {
                    "204": {"description": "allowed origin"},
                    "403": error_response("origin not allowed"),
                    "429": error_response("rate limited", RETRY_AFTER),
                },
            },
        },
    }
