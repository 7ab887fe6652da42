"""CORS for the two endpoints browsers call (`/v1/events`, `/v1/context`).

Only origins on the web source's allow-list may read answers or pass a preflight; every answer
varies on Origin so shared caches never hand one shop's answer to another origin.
"""

from __future__ import annotations

from flask import Response, request

from sidecar.api import services
from sidecar.errors import SidecarError

MAX_AGE = "600"


def add_headers(response: Response, expose: str) -> Response:
    """Let an allow-listed origin read this answer (errors included)."""
    auth = services().web_auth
    origin = request.headers.get("Origin")
    if auth is not None and origin and auth.origin_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = expose
    response.headers.add("Vary", "Origin")
    return response


def preflight() -> Response:
    """Answer an OPTIONS preflight: 204 for an allow-listed origin, 403 otherwise."""
    auth = services().web_auth
    if auth is None or not auth.origin_allowed(request.headers.get("Origin")):
        raise SidecarError(
            "this Origin is not on the web source's allow-list", status=403, code="forbidden"
        )
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response
