"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint.

The request schema is the compiled plan's envelope schema (JSON Schema 2020-12, which OpenAPI
3.1 uses as is). Its ``$defs`` move to ``components/schemas`` and the references follow, so the
document is self-contained and tools resolve every ``$ref`` from the document root.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from generator.plan.compile import envelope_schema
from generator.plan.model import Plan
from sidecar import signing

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(current_app.extensions["sgtm_openapi"])


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + prefix + value[len("#/$defs/") :]
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def other_routes(app: Flask, described: dict[str, Any]) -> dict[str, Any]:
    """Minimal entries for endpoints other parts register (webhooks, delivery push), so the
    document lists every endpoint; their owners may describe them in more detail."""
    paths: dict[str, Any] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.rule in described:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = app.view_functions.get(rule.endpoint)
        doc = (view.__doc__ or "").strip().splitlines() if view is not None else []
        summary = doc[0] if doc else rule.endpoint
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in sorted(rule.arguments)
        ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": summary,
                "responses": {"default": _error_response("see docs/sidecar.md")},
            }
            if params:
                operation["parameters"] = params
            paths.setdefault(path, {})[method.lower()] = operation
    return paths


def build_openapi(
    plan: Plan, max_batch: int, max_body_bytes: int, app: Flask | None = None
) -> dict[str, Any]:
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
        "items": {"$ref": "#/components/schemas/Envelope"},
        "minItems": 1,
        "maxItems": max_batch,
    }
    components["FieldError"] = {
        "type": "object",
        "properties": {
            "pointer": {"type": "string", "description": "RFC 6901 JSON pointer in the event"},
            "message": {"type": "string"},
        },
        "required": ["pointer", "message"],
    }
    outcomes = ["queued", "blocked_no_consent", "anonymized", "not_in_rollout"]
    components["EventResult"] = {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "event_id": {"type": ["string", "null"]},
            "status": {"enum": ["accepted", "duplicate", "rejected"]},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            "destinations": {"type": "object", "additionalProperties": {"enum": outcomes}},
            "stripped": {
                "type": "integer",
                "minimum": 0,
                "description": "members removed because the plan does not declare them",
            },
        },
        "required": ["index", "event_id", "status", "errors", "destinations", "stripped"],
    }
    components["Results"] = {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/EventResult"}}
        },
        "required": ["results"],
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
                    "errors": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/FieldError"},
                    },
                },
                "required": ["code", "message", "status", "request_id"],
            }
        },
        "required": ["error"],
    }
    counters = ["requests", "errors_5xx", "accepted", "duplicates", "rejected", "skipped"]
    components["Stats"] = {
        "type": "object",
        "properties": {
            "revision": {"type": "string"},
            **{name: {"type": "integer"} for name in counters},
            "delivery_failures": {"type": "integer"},
            "delivered": {"type": "integer"},
            "scope": {"type": "object"},
        },
        "required": ["revision", *counters, "delivery_failures", "delivered"],
    }
    components["Health"] = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
        "required": ["status"],
    }
    json_ok = {"application/json": {"schema": {"type": "object"}}}
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"sgtm-companion sidecar for plan {plan.name}",
            "version": str(plan.version),
            "description": "First-party Event API: docs/sidecar.md.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": {
            "/v1/events": {
                "post": {
                    "operationId": "postEvents",
                    "summary": "Send one envelope or a batch",
                    "security": [{"browserToken": []}, {"requestSignature": []}],
                    "requestBody": {
                        "required": True,
                        "description": f"at most {max_body_bytes} bytes",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Envelope"},
                                        {"$ref": "#/components/schemas/Batch"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "one result per event",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Results"}
                                }
                            },
                        },
                        "400": _error_response("malformed JSON, or an invalid single envelope"),
                        "401": _error_response("missing or invalid credentials"),
                        "403": _error_response("origin not allowed"),
                        "404": _error_response("the plan declares no web source"),
                        "413": _error_response("body or batch too large"),
                        "415": _error_response("not application/json"),
                        "429": _error_response("rate limited; see Retry-After"),
                        "503": _error_response("outbox unavailable; retry"),
                    },
                },
                "options": {
                    "operationId": "preflightEvents",
                    "summary": "CORS preflight",
                    "responses": {
                        "204": {"description": "allowed origin"},
                        "403": _error_response("origin not allowed"),
                        "429": _error_response("rate limited"),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "responses": {
                        "200": {
                            "description": "alive",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}
                                }
                            },
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {
                        "200": {
                            "description": "plan loaded, outbox writable",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}
                                }
                            },
                        },
                        "503": {
                            "description": "outbox unavailable",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}
                                }
                            },
                        },
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "responses": {"200": {"description": "this document", "content": json_ok}},
                }
            },
            "/v1/stats": {
                "get": {
                    "operationId": "stats",
                    "responses": {
                        "200": {
                            "description": "counters",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Stats"}
                                }
                            },
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "browserToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "v1.<kid>.<payload>.<mac> from the shop's backend "
                    "(sgtm token); requires an allow-listed Origin",
                },
                "requestSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": signing.SIGNATURE_HEADER,
                    "description": "t=<unix seconds>,kid=<key id>,v1=<hex HMAC-SHA256(key, "
                    '"<t>.<raw body>")>',
                },
            },
        },
    }
    if app is not None:
        doc["paths"].update(other_routes(app, doc["paths"]))
    return doc
