"""Compile a plan into the data the generator and the sidecar consume.

Outputs are plain JSON-able dicts built in plan order, so the same plan always gives the same
bytes (``dumps``) and a one-event change gives a small diff. Nothing here reads YAML.
"""

from __future__ import annotations

import json
from typing import Any

from formats.plan import model as m

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
ID_MAX = 256
PII_MAX = 512
CONTEXT_MAX = 2048
# Millisecond timestamps between 2001-09-09 and 2286-11-20: catches seconds sent by mistake.
TIMESTAMP_MIN = 1_000_000_000_000
TIMESTAMP_MAX = 9_999_999_999_999
# Every number the sidecar accepts is bounded (an amount of 10^400 must not reach a queue):
# the plan's min/max when it sets them, else these, which no real order exceeds. 10^12 is also
# the webhooks' amount limit (sidecar/webhooks/payload.py); 2^53 - 1 is the largest integer
# JavaScript (the sGTM sandbox) holds exactly.
NUMBER_LIMIT = 1_000_000_000_000
INTEGER_LIMIT = 9_007_199_254_740_991
QTY_MAX = 1_000_000_000


def dumps(data: Any) -> str:
    """The one JSON serialisation of every compiled artifact."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def param_schema(param: m.Param, plan: m.Plan) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if param.description:
        schema["description"] = param.description
    if param.type == "string":
        schema["type"] = "string"
        if param.max_length is not None:
            schema["maxLength"] = param.max_length
        if param.pattern:
            schema["pattern"] = param.pattern
    elif param.type == "currency":
        schema["type"] = "string"
        schema["pattern"] = "^[A-Z]{3}$"
        schema["description"] = param.description or "ISO 4217 currency code"
    elif param.type in ("number", "integer", "boolean"):
        schema["type"] = param.type
    elif param.type == "timestamp":
        schema["type"] = "integer"
        schema["minimum"] = TIMESTAMP_MIN
        schema["maximum"] = TIMESTAMP_MAX
        schema["description"] = param.description or "milliseconds since the epoch"
    elif param.type == "items":
        schema["type"] = "array"
        schema["items"] = {"$ref": "#/$defs/item"}
        low = int(param.minimum) if param.minimum is not None else None
        high = min(int(param.maximum), plan.max_items) if param.maximum is not None else None
        if low is not None:
            schema["minItems"] = low
        schema["maxItems"] = high if high is not None else plan.max_items
    if param.type in ("number", "integer"):
        limit = NUMBER_LIMIT if param.type == "number" else INTEGER_LIMIT
        schema["minimum"] = param.minimum if param.minimum is not None else -limit
        schema["maximum"] = param.maximum if param.maximum is not None else limit
    if param.enum:
        schema["enum"] = list(param.enum)
    return schema


def item_schema(plan: m.Plan) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "string", "minLength": 1, "maxLength": 100},
        "name": {"type": "string", "maxLength": 100},
        "category": {"type": "string", "maxLength": 100},
        "qty": {"type": "integer", "minimum": 1, "maximum": QTY_MAX},
        "price": {"type": "number", "minimum": 0, "maximum": NUMBER_LIMIT},
    }
    for name, param in plan.item_fields.items():
        properties[name] = param_schema(param, plan)
    return {
        "type": "object",
        "properties": properties,
        "required": ["id"],
        "additionalProperties": False,
    }


def params_schema(event: m.Event, plan: m.Plan) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: param_schema(p, plan) for name, p in event.params.items()},
        "additionalProperties": False,
    }
    required = [name for name, p in event.params.items() if p.required]
    if required:
        schema["required"] = required
    return schema


def _strings(names: tuple[str, ...] | list[str], max_length: int) -> dict[str, Any]:
    return {name: {"type": "string", "maxLength": max_length} for name in names}


def envelope_schema(plan: m.Plan) -> dict[str, Any]:
    """The schema of canonical envelope v1 for this plan, every event's params included."""
    defs: dict[str, Any] = {"item": item_schema(plan)}
    for name, event in plan.events.items():
        defs[f"params_{name}"] = params_schema(event, plan)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:sgtm-companion:{plan.name}:envelope:{m.ENVELOPE_SCHEMA_MAJOR}",
        "title": f"{plan.name} event envelope v{m.ENVELOPE_SCHEMA_MAJOR} (plan {plan.version})",
        "type": "object",
        "properties": {
            "schema": {"const": m.ENVELOPE_SCHEMA_MAJOR},
            "event_name": {"enum": list(plan.events)},
            "event_id": {"type": "string", "pattern": EVENT_ID_PATTERN},
            "timestamp": {"type": "integer", "minimum": TIMESTAMP_MIN, "maximum": TIMESTAMP_MAX},
            **_strings(m.IDENTITY_FIELDS, ID_MAX),
            "consent": {
                "type": "object",
                "propertyNames": {"enum": list(plan.purposes)},
                "additionalProperties": {"type": "boolean"},
            },
            "params": {"type": "object"},
            "user_data": {
                "type": "object",
                "properties": _strings(plan.user_data, PII_MAX),
                "additionalProperties": False,
            },
            "context": {
                "type": "object",
                "properties": {
                    **_strings(m.CONTEXT_FIELDS, CONTEXT_MAX),
                    "channel": {"enum": list(m.ORDER_CHANNELS)},
                },
                "additionalProperties": False,
            },
        },
        "required": ["schema", "event_name", "event_id", "timestamp", "consent"],
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"event_name": {"const": name}}},
                "then": {"properties": {"params": {"$ref": f"#/$defs/params_{name}"}}},
            }
            for name in plan.events
        ],
        "$defs": defs,
    }


def event_schema(plan: m.Plan, event: m.Event) -> dict[str, Any]:
    """One event's params, standalone (for documentation and for other tools)."""
    schema = params_schema(event, plan)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:sgtm-companion:{plan.name}:event:{event.name}:{m.ENVELOPE_SCHEMA_MAJOR}",
        "title": f"{event.name} params (plan {plan.name} {plan.version})",
        **({"description": event.description} if event.description else {}),
        **schema,
        "$defs": {"item": item_schema(plan)},
    }


def consent_matrix(plan: m.Plan) -> dict[str, dict[str, list[str]]]:
    """event -> destination -> the purposes that must all be granted to send it there."""
    return {
        event: {d.name: list(d.purposes) for d in plan.destinations_for(event)}
        for event in plan.events
    }


def policy(plan: m.Plan) -> dict[str, Any]:
    """The runtime policy: everything the sidecar and the templates decide by, as data."""
    return {
        "plan": plan.name,
        "version": str(plan.version),
        "envelope_schema": m.ENVELOPE_SCHEMA_MAJOR,
        "currency": plan.currency,
        "region": plan.region,
        "default_country": plan.default_country,
        "retention_days": plan.retention_days,
        "dedupe_window_hours": plan.dedupe_window_hours,
        "consent": {
            "missing": plan.consent.missing,
            "analytics_without_consent": plan.consent.analytics_without_consent,
            "purposes": {
                p.name: {"basis": p.basis, "description": p.description}
                for p in plan.purposes.values()
            },
        },
        "user_data": list(plan.user_data),
        "matrix": consent_matrix(plan),
        "destinations": {d.name: d.to_dict() for d in plan.destinations.values()},
        "sources": {
            s.name: {
                "kind": s.kind,
                "secrets": {role: ref.env for role, ref in s.secrets.items()},
                "settings": s.settings,
            }
            for s in plan.sources.values()
        },
        "delivery": {
            "client_path": plan.delivery.client_path,
            "keys": plan.delivery.keys.env if plan.delivery.keys else None,
            "batch_size": plan.delivery.batch_size,
        },
    }


def artifacts(plan: m.Plan) -> dict[str, str]:
    """Relative path -> file text for everything ``sgtm plan schema`` writes."""
    out = {"schemas/envelope.schema.json": dumps(envelope_schema(plan))}
    for event in plan.events.values():
        out[f"schemas/events/{event.name}.schema.json"] = dumps(event_schema(plan, event))
    out["policy.json"] = dumps(policy(plan))
    return out
