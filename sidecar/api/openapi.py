"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint, assembled from the
description next to each blueprint (``events_spec``, ``health_spec``, ``stats_spec``, ``webhooks_spec``,
``deliver_spec``); an endpoint registered without one still gets a generic entry."""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from formats import signing
from formats.plan.model import Plan
from sidecar.api import deliver_spec, events_spec, health_spec, stats_spec, webhooks_spec
from sidecar.api.spec import REQUEST_ID_HEADER, error_components, error_response
from sidecar.verification import webhook_signatures as sig

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(current_app.extensions["sgtm_openapi"])


def other_routes(app: Flask, described: dict[str, Any]) -> dict[str, Any]:
    """Minimal entries for endpoints registered after this module last learnt of them, so the
    document always lists every endpoint; they deserve a precise entry in ``build_openapi``."""
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
                "responses": {"default": error_response("see docs/sidecar.md")},
            }
            if params:
                operation["parameters"] = params
            paths.setdefault(path, {})[method.lower()] = operation
    return paths


# --- the document ------------------------------------------------------------------------------


def build_openapi(
    plan: Plan, max_batch: int, max_body_bytes: int, app: Flask | None = None
) -> dict[str, Any]:
    has_webhooks = app is None or "sgtm_webhooks" in app.extensions
    components: dict[str, Any] = {
        **events_spec.components(plan, max_batch),
        **error_components(),
        **stats_spec.components(has_webhooks),
        **health_spec.components(),
        **webhooks_spec.components(plan),
        **deliver_spec.components(),
    }
    paths: dict[str, Any] = {
        **events_spec.paths(max_body_bytes),
        **health_spec.paths(),
        **stats_spec.paths(),
        **webhooks_spec.paths(),
        **deliver_spec.paths(),
    }
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"sgtm-companion sidecar for plan {plan.name}",
            "version": str(plan.version),
            "description": "First-party Event API, order webhooks, the identity context and the "
            "Pub/Sub push endpoint: docs/sidecar.md, docs/webhooks.md, docs/delivery.md.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": {"RequestId": REQUEST_ID_HEADER},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    if app is not None:
        # Only endpoints that exist are described; a later, unknown one gets a generic entry.
        registered = {r.rule for r in app.url_map.iter_rules()}
        doc["paths"] = {p: v for p, v in paths.items() if p in registered}
        doc["paths"].update(other_routes(app, doc["paths"]))
    for item in doc["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                # A new mapping: header dicts such as RETRY_AFTER are shared between answers.
                response["headers"] = {
                    **response.get("headers", {}),
                    "X-Request-Id": {"$ref": "#/components/headers/RequestId"},
                }
    # Schema constants (ID, AMOUNT, PUSH_SCHEMA ...) appear in several places: a copy keeps a
    # later edit of one document from reaching into them.
    return copy.deepcopy(doc)


SECURITY_SCHEMES: dict[str, Any] = {
    "browserToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "v1.<kid>.<payload>.<mac> from the shop's backend (sgtm token); "
        "requires an allow-listed Origin",
    },
    "requestSignature": {
        "type": "apiKey",
        "in": "header",
        "name": signing.SIGNATURE_HEADER,
        "description": "t=<unix seconds>,kid=<key id>,v2=<hex HMAC-SHA256(key, "
        '"<t>.<METHOD>.<path>.<raw body>")>; the older v1=<hex HMAC-SHA256(key, '
        '"<t>.<raw body>")> while SGTM_SIGNATURE_VERSIONS allows it (not for /v1/stats)',
    },
    "shopifyHmac": {
        "type": "apiKey",
        "in": "header",
        "name": sig.SHOPIFY_HEADER,
        "description": "base64 HMAC-SHA256 of the raw body with the app's client secret "
        "(the shopify source's secret; one per line during a rotation)",
    },
    "wooSignature": {
        "type": "apiKey",
        "in": "header",
        "name": sig.WOOCOMMERCE_HEADER,
        "description": "base64 HMAC-SHA256 of the raw body with the webhook's secret; the "
        "activation ping has none",
    },
    "stripeSignature": {
        "type": "apiKey",
        "in": "header",
        "name": sig.STRIPE_HEADER,
        "description": 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; t within '
        "the source's tolerance_seconds (default "
        f"{sig.STRIPE_TOLERANCE_SECONDS}) in either direction",
    },
    "pubsubOidc": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "the push subscription's Google-signed OIDC token, checked against "
        "SGTM_PUSH_AUDIENCE (and SGTM_PUSH_SERVICE_ACCOUNT when set)",
    },
    "pushToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "when SGTM_PUSH_AUDIENCE is unset: the secret SGTM_PUSH_TOKEN in the push URL",
    },
}
