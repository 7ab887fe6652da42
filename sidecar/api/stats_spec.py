"""``GET /v1/stats``'s description: the counters the rollout gate reads."""

from __future__ import annotations

from typing import Any

from sidecar.api.spec import answer, error_response, ref


def components(has_webhooks: bool) -> dict[str, Any]:
    components: dict[str, Any] = {}
    counters = ["requests", "errors_5xx", "accepted", "duplicates", "rejected", "skipped"]
    components["Stats"] = {
        "type": "object",
        "properties": {
            "revision": {"type": "string"},
            **{name: {"type": "integer"} for name in counters},
            "delivery_failures": {"type": "integer"},
            "delivered": {"type": "integer"},
            "scope": {"type": "object"},
            "webhooks": ref("JoinCounters"),
            "quarantined": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "authentic webhook bodies waiting for `sgtm quarantine replay` "
                "(store-wide; null when the store cannot be read)",
            },
        },
        "required": [
            "revision",
            *counters,
            "delivery_failures",
            "delivered",
            *(["webhooks"] if has_webhooks else []),
        ],
    }
    return components


def paths() -> dict[str, Any]:
    return {
        "/v1/stats": {
            "get": {
                "operationId": "stats",
                "summary": "Counters for the rollout gate (a server's v2 request signature)",
                "security": [{"requestSignature": []}],
                "responses": {
                    "200": answer("counters", "Stats"),
                    "401": error_response(
                        "no, or no valid, version 2 request signature over GET /v1/stats"
                    ),
                    "404": error_response("the plan declares no web source (no server key)"),
                },
            }
        },
    }
