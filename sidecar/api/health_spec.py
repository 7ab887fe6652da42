"""The probes' and the document's own description: ``/healthz`` and ``/readyz`` on the
container's paths and on the load balancer's ``/v1/`` paths, ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from sidecar.api.spec import answer, json_content

# The probes answer on the container's paths and on the load balancer's /v1/ paths
# (sidecar/api/health.py); operation ids must be unique.
HEALTH_PREFIXES = (("", ""), ("/v1", "V1"))


def components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    components["Health"] = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
        "required": ["status"],
    }
    return components


def paths() -> dict[str, Any]:
    json_ok = json_content({"type": "object"})
    return {
        **{
            prefix + "/healthz": {
                "get": {
                    "operationId": "healthz" + suffix,
                    "responses": {"200": answer("alive", "Health")},
                }
            }
            for prefix, suffix in HEALTH_PREFIXES
        },
        **{
            prefix + "/readyz": {
                "get": {
                    "operationId": "readyz" + suffix,
                    "description": "unauthenticated, so it names no path, version or reason; the "
                    "log has the reason",
                    "responses": {
                        "200": answer("plan loaded, outbox writable", "Health"),
                        "503": answer("outbox unavailable", "Health"),
                    },
                }
            }
            for prefix, suffix in HEALTH_PREFIXES
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "responses": {"200": {"description": "this document", "content": json_ok}},
            }
        },
    }
