"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint.

The Event API's request schema is the compiled plan's envelope schema (JSON Schema 2020-12,
which OpenAPI 3.1 uses as is). Its ``$defs`` move to ``components/schemas`` and the references
follow, so the document is self-contained and tools resolve every ``$ref`` from the document
root. The other endpoints' schemas are derived from the code that checks their requests (the
context rules in ``sidecar.webhooks.identity``, the mappings' constants, the source settings in
the plan), so the document cannot drift from what the service accepts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from formats import signing
from formats.contract import envelope_schema
from formats.plan.model import Plan, Source
from sidecar.decision.consent import ANONYMIZED, BLOCKED, NOT_IN_ROLLOUT, QUEUED, SKIPPED
from sidecar.ingest import ACCEPTED, DUPLICATE, REJECTED
from sidecar.verification import webhook_signatures as sig
from sidecar.webhooks import identity, shopify, stripe, woocommerce

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
IGNORED = "ignored"  # the webhook answer's status for deliveries deliberately not counted
SCHEMAS = "#/components/schemas/"
SHOPIFY_TOPICS = ("orders/paid", "orders/create", "refunds/create")  # shopify.map_webhook's
PLATFORM_DOCS = {
    "shopify": "https://shopify.dev/docs/apps/build/webhooks/",
    "woocommerce": "https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties",
    "stripe": "https://docs.stripe.com/api/events/object",
}


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(current_app.extensions["sgtm_openapi"])


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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _header(description: str, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


RETRY_AFTER = {"Retry-After": _header("seconds to wait before retrying")}


def _error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json(_ref("Error"))}
    if headers:
        response["headers"] = headers
    return response


def _answer(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": _json(_ref(schema))}
    if headers:
        response["headers"] = headers
    return response


def _source(plan: Plan, kind: str) -> Source | None:
    return next((s for s in plan.sources.values() if s.kind == kind), None)


def _settings(plan: Plan, kind: str, defaults: dict[str, Any]) -> dict[str, Any]:
    source = _source(plan, kind)
    return {**defaults, **(source.settings if source is not None else {})}


# The probes answer on the container's paths and on the load balancer's /v1/ paths
# (sidecar/api/health.py); operation ids must be unique.
HEALTH_PREFIXES = (("", ""), ("/v1", "V1"))


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
                "responses": {"default": _error_response("see docs/sidecar.md")},
            }
            if params:
                operation["parameters"] = params
            paths.setdefault(path, {})[method.lower()] = operation
    return paths


# --- request body schemas of the webhook and context endpoints -------------------------------

# An id as ``Node.ident`` reads it: a non-negative integer or a string with a non-blank character.
ID = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"\S"}]}
# An amount as ``money.parse_amount`` reads it (text or a JSON number).
AMOUNT = {"type": ["string", "number"]}
CURRENCY = {"type": "string", "description": "ISO 4217 code (any case)"}
DATE_TIME = {"type": "string", "description": "ISO 8601 date-time"}
# Members the mappings read only when present: null counts as absent (``Node.present``).
OPTIONAL_AMOUNT = {"type": ["string", "number", "null"]}
OPTIONAL_DATE_TIME = {"type": ["string", "null"], "description": "ISO 8601 date-time"}


def _present(names: Iterable[str], schema: dict[str, Any]) -> dict[str, Any]:
    """At least one of ``names`` present and not null (``model.first_timestamp``, amounts)."""
    return {"anyOf": [{"required": [n], "properties": {n: schema}} for n in names]}


def context_schema(plan: Plan) -> dict[str, Any]:
    """The ``POST /v1/context`` body, from the rules ``identity.parse_context`` applies."""
    strings = {
        name: {
            "type": ["string", "null"],
            "maxLength": identity.ID_MAX if name in identity.ID_FIELDS else identity.CONTEXT_MAX,
            "description": "empty or null: not stored",
        }
        for name in (*identity.ID_FIELDS, *identity.CONTEXT_STRINGS)
    }
    purposes = list(plan.purposes)
    return {
        "type": "object",
        "description": "The browser's ids, click ids, page and consent, stored under the cart "
        "or checkout token for the order webhook to join (docs/webhooks.md).",
        "properties": {
            "token": {
                "type": "string",
                # parse_context strips the token before matching it.
                "pattern": rf"^\s*{identity.TOKEN.pattern}\s*$",
                "description": "the cart/checkout token, order key or client_reference_id; "
                "a '?key=...' suffix is dropped",
            },
            **strings,
            "consent": {
                "type": ["object", "null"],
                "properties": {p: {"type": "boolean"} for p in purposes},
                "additionalProperties": False,
                "description": "the plan's purposes: " + ", ".join(purposes),
            },
        },
        "required": ["token"],
        "additionalProperties": False,
    }


def _priced_lines(required: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {"quantity": {"type": "integer", "minimum": 0}},
            "required": required,
        },
    }


def shopify_schemas(plan: Plan) -> dict[str, Any]:
    settings = _settings(plan, "shopify", shopify.DEFAULT_SETTINGS)
    topics = ", ".join(settings["purchase_topics"])
    order = {
        "type": "object",
        "description": "A REST Order (topics orders/paid, orders/create): the members the "
        f"purchase mapping requires. This plan maps {topics} to purchase. Amounts are read from "
        "the *_set.presentment_money values, the plain fields only for single-currency orders. "
        f"Payload reference: {PLATFORM_DOCS['shopify']}; mapping: docs/webhooks.md.",
        "properties": {
            "id": ID,
            "currency": CURRENCY,
            "financial_status": {"type": ["string", "null"]},
            "test": {"type": ["boolean", "null"]},
            "presentment_currency": {"type": ["string", "null"]},
            "total_price": OPTIONAL_AMOUNT,
            "total_price_set": {"type": ["object", "null"]},
            "processed_at": OPTIONAL_DATE_TIME,
            "created_at": OPTIONAL_DATE_TIME,
            "line_items": _priced_lines(["quantity"]),
        },
        "required": ["id", "currency", "line_items"],
        "allOf": [
            {
                "anyOf": [
                    {
                        "required": ["total_price_set"],
                        "properties": {
                            "total_price_set": {
                                "type": "object",
                                "required": ["presentment_money"],
                            }
                        },
                    },
                    {"required": ["total_price"], "properties": {"total_price": AMOUNT}},
                ]
            },
            _present(["processed_at", "created_at"], DATE_TIME),
        ],
    }
    refund = {
        "type": "object",
        "description": "A Refund (topic refunds/create): the money comes from its successful "
        "refund transactions, else from its refund_line_items. "
        f"Payload reference: {PLATFORM_DOCS['shopify']}; mapping: docs/webhooks.md.",
        "properties": {
            "id": ID,
            "order_id": ID,
            "transactions": {"type": ["array", "null"], "items": {"type": "object"}},
            "refund_line_items": {"type": ["array", "null"], "items": {"type": "object"}},
        },
        "required": ["id", "order_id"],
    }
    return {
        "ShopifyOrder": order,
        "ShopifyRefund": refund,
        "ShopifyWebhook": {
            "description": "Other topics are acknowledged as ignored whatever their body.",
            "anyOf": [_ref("ShopifyOrder"), _ref("ShopifyRefund")],
        },
    }


def woocommerce_schemas(plan: Plan) -> dict[str, Any]:
    settings = _settings(plan, "woocommerce", woocommerce.DEFAULT_SETTINGS)
    paid = list(settings["paid_statuses"])
    return {
        "WooCommerceOrder": {
            "type": "object",
            "description": "A REST v3 order (topics "
            + ", ".join(woocommerce.ORDER_TOPICS)
            + f"); a purchase when its status is one of this plan's paid_statuses ({', '.join(paid)}), "
            "one refund per entry of refunds. Amounts are strings in the order's currency. "
            f"Payload reference: {PLATFORM_DOCS['woocommerce']}; mapping: docs/webhooks.md.",
            "properties": {
                "id": ID,
                "status": {"type": "string"},
                "currency": CURRENCY,
                "total": OPTIONAL_AMOUNT,
                "date_paid_gmt": OPTIONAL_DATE_TIME,
                "date_created_gmt": OPTIONAL_DATE_TIME,
                "date_modified_gmt": OPTIONAL_DATE_TIME,
                "line_items": _priced_lines(["quantity"]),
                "refunds": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "properties": {"id": ID, "total": AMOUNT},
                        "required": ["id", "total"],
                    },
                },
            },
            "required": ["id", "status", "currency"],
            "if": {"properties": {"status": {"enum": paid}}, "required": ["status"]},
            "then": {
                "required": ["line_items"],
                **_present(["date_paid_gmt", "date_created_gmt"], DATE_TIME),
            },
        },
        "WooCommercePing": {
            "type": "object",
            "description": "The unsigned activation ping (no X-WC-Webhook-Signature header)",
            "properties": {"webhook_id": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
            "required": ["webhook_id"],
            "additionalProperties": False,
        },
    }


def stripe_schemas() -> dict[str, Any]:
    mapped = [*stripe.PURCHASE_TYPES, *stripe.REFUND_TYPES]
    return {
        "StripeEvent": {
            "type": "object",
            "description": "A Stripe Event. Mapped types: "
            + ", ".join(mapped)
            + "; charge.succeeded is remembered for refunds that name only their charge; "
            "every other type is acknowledged as ignored. data.object is the Checkout "
            "Session (purchases), the Refund (refund.created) or the Charge (charge.refunded, "
            "charge.succeeded). "
            f"Payload reference: {PLATFORM_DOCS['stripe']}; mapping: docs/webhooks.md.",
            "properties": {
                "id": ID,
                "type": {"anyOf": [{"enum": mapped}, {"type": "string"}]},
                "livemode": {"type": ["boolean", "null"]},
                "created": {"type": "integer", "minimum": 0},
                "data": {
                    "type": "object",
                    "properties": {"object": {"type": "object"}},
                    "required": ["object"],
                },
            },
            "required": ["id", "type"],
            "if": {"properties": {"type": {"enum": mapped}}, "required": ["type"]},
            "then": {"required": ["created", "data"]},
        }
    }


PUSH_SCHEMA = {
    "type": "object",
    "description": "A Pub/Sub push request: https://cloud.google.com/pubsub/docs/push",
    "properties": {
        "message": {
            "type": "object",
            "properties": {
                "data": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "contentMediaType": "application/json",
                    "contentSchema": {
                        "type": "object",
                        "properties": {"event_id": {"type": "string", "minLength": 1}},
                        "required": ["event_id"],
                    },
                    "description": 'base64 of {"event_id": "..."}, as the gcp outbox publishes',
                },
                "messageId": {"type": "string"},
                "publishTime": {"type": "string"},
                "attributes": {"type": "object"},
            },
            "required": ["data"],
        },
        "subscription": {"type": "string"},
    },
    "required": ["message"],
}


# --- response schemas --------------------------------------------------------------------------


def answer_schemas() -> dict[str, Any]:
    outcomes = [QUEUED, BLOCKED, ANONYMIZED, NOT_IN_ROLLOUT, *SKIPPED]
    return {
        "WebhookEvent": {
            "type": "object",
            "properties": {
                "event_id": {"type": "string"},
                "status": {"enum": [ACCEPTED, DUPLICATE, IGNORED]},
                "reason": {"type": "string"},
                "destinations": {"type": "object", "additionalProperties": {"enum": outcomes}},
                "join": {
                    "enum": list(identity.HOWS),
                    "description": "how the order found the browser's identity",
                },
                "dropped": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "optional values left out, each '<pointer>: <why>'",
                },
            },
            "required": ["event_id", "status"],
        },
        "WebhookAnswer": {
            "type": "object",
            "description": "ignored answers carry the reason; a platform never retries them",
            "properties": {
                "status": {"enum": [ACCEPTED, DUPLICATE, IGNORED]},
                "reason": {"type": ["string", "null"]},
                "events": {
                    "type": "array",
                    "items": _ref("WebhookEvent"),
                    "description": "absent only in the answer to WooCommerce's ping",
                },
                "repaired": {
                    "type": "array",
                    "items": {"type": "string"},
                    "maxItems": 20,
                    "description": "JSON pointers of payload strings whose lone surrogates "
                    "were replaced by U+FFFD (the first 20)",
                },
            },
            "required": ["status"],
        },
        "WebhookQuarantined": {
            "type": "object",
            "description": "the body is authentic but could not be mapped: it is kept, byte "
            "for byte with its signature headers, for `sgtm quarantine replay`",
            "properties": {
                "status": {"const": "quarantined"},
                "quarantine_id": {"type": "string"},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "pointer": {"type": "string"},
                            "message": {"type": "string"},
                        },
                        "required": ["pointer", "message"],
                    },
                    "minItems": 1,
                },
                "events": {"type": "array", "items": _ref("WebhookEvent")},
            },
            "required": ["status", "quarantine_id", "errors"],
        },
        "ContextStored": {
            "type": "object",
            "properties": {
                "status": {"const": "stored"},
                "expires_in": {"type": "integer", "minimum": 0, "description": "seconds"},
            },
            "required": ["status", "expires_in"],
        },
        "DeliveryPending": {
            "type": "object",
            "description": "a nack: Pub/Sub redelivers after its retry policy's backoff",
            "properties": {
                "event_id": {"type": "string"},
                "pending": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "retry_in_s": {"type": ["number", "null"], "minimum": 0},
            },
            "required": ["event_id", "pending", "retry_in_s"],
        },
        "JoinCounters": {
            "type": "object",
            "description": "process-local counts of accepted webhook events by how they joined",
            "properties": {
                "orders": {"type": "integer", "minimum": 0},
                "joined": {
                    "type": "object",
                    "properties": {
                        how: {"type": "integer", "minimum": 0}
                        for how in identity.HOWS
                        if how != identity.NOT_JOINED
                    },
                    "required": [h for h in identity.HOWS if h != identity.NOT_JOINED],
                    "additionalProperties": False,
                },
                "not_joined": {"type": "integer", "minimum": 0},
                "join_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "ignored_deliveries": {"type": "integer", "minimum": 0},
            },
            "required": ["orders", "joined", "not_joined", "join_rate", "ignored_deliveries"],
            "additionalProperties": False,
        },
    }


# --- operations --------------------------------------------------------------------------------


def _webhook_operation(
    platform: str, summary: str, security: str, body: dict[str, Any], headers: list[dict]
) -> dict[str, Any]:
    return {
        "operationId": f"{platform}Webhook",
        "summary": summary,
        "tags": ["webhooks"],
        "externalDocs": {"url": PLATFORM_DOCS[platform]},
        "security": [{security: []}],
        "parameters": headers,
        "requestBody": {"required": True, "content": body},
        "responses": {
            "200": _answer("accepted, duplicate or ignored (with the reason)", "WebhookAnswer"),
            "202": _answer(
                "authentic, but a missing topic header, a body that is not JSON, a payload the "
                "mapping cannot read, or a mapped event the plan rejects: quarantined (never a "
                "4xx, which would make the platform retry and then drop the subscription); "
                "errors name the JSON pointer",
                "WebhookQuarantined",
            ),
            "401": _error_response("the signature is missing, malformed or wrong (nothing read)"),
            "404": _error_response(f"the tracking plan declares no {platform} source"),
            "413": _error_response("body over the web source's max_body_bytes"),
            "503": _error_response("the outbox cannot take events; retry", RETRY_AFTER),
        },
    }


def _header_param(
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


def webhook_paths() -> dict[str, Any]:
    shopify_op = _webhook_operation(
        "shopify",
        "Shopify order webhooks (orders/paid, orders/create, refunds/create)",
        "shopifyHmac",
        _json(_ref("ShopifyWebhook")),
        [
            _header_param(
                "X-Shopify-Topic",
                "quarantined (202) when missing; other topics are acknowledged as ignored",
                True,
                SHOPIFY_TOPICS,
            ),
            _header_param("X-Shopify-Webhook-Id", "unique per delivery; deduplicates redeliveries"),
        ],
    )
    woo_op = _webhook_operation(
        "woocommerce",
        "WooCommerce order webhooks (" + ", ".join(woocommerce.ORDER_TOPICS) + ")",
        "wooSignature",
        {
            **_json(_ref("WooCommerceOrder")),
            "application/x-www-form-urlencoded": {"schema": _ref("WooCommercePing")},
        },
        [
            _header_param(
                "X-WC-Webhook-Topic",
                "required on signed deliveries (quarantined when missing); other topics are "
                "acknowledged as ignored",
                known=woocommerce.ORDER_TOPICS,
            ),
            _header_param("X-WC-Webhook-Resource", "e.g. order (informational)"),
            _header_param("X-WC-Webhook-Event", "e.g. updated (informational)"),
        ],
    )
    stripe_op = _webhook_operation(
        "stripe",
        "Stripe events (checkout sessions, refunds)",
        "stripeSignature",
        _json(_ref("StripeEvent")),
        [],
    )
    return {
        "/v1/webhooks/shopify": {"post": shopify_op},
        "/v1/webhooks/woocommerce": {"post": woo_op},
        "/v1/webhooks/stripe": {"post": stripe_op},
    }


ORIGIN_PARAM = _header_param(
    "Origin", "browser requests: an origin on the web source's allow-list (403 otherwise)"
)


def context_paths() -> dict[str, Any]:
    return {
        "/v1/context": {
            "post": {
                "operationId": "postContext",
                "summary": "Store the browser's identity and consent for the order webhook",
                "tags": ["webhooks"],
                "security": [{"browserToken": []}, {"requestSignature": []}],
                "parameters": [
                    ORIGIN_PARAM,
                    _header_param("User-Agent", "stored when the body has no user_agent"),
                ],
                "requestBody": {"required": True, "content": _json(_ref("Context"))},
                "responses": {
                    "200": _answer("stored under the token", "ContextStored"),
                    "400": _error_response(
                        "not JSON, or invalid: errors lists every problem by JSON pointer"
                    ),
                    "401": _error_response("missing or invalid credentials"),
                    "403": _error_response("origin not allowed, or a token for another origin"),
                    "404": _error_response("the plan declares no web source"),
                    "413": _error_response("body over the web source's max_body_bytes"),
                    "415": _error_response("not application/json"),
                    "429": _error_response("rate limited", RETRY_AFTER),
                    "503": _error_response("the store cannot take the context; retry", RETRY_AFTER),
                },
            },
            "options": {
                "operationId": "preflightContext",
                "summary": "CORS preflight",
                "tags": ["webhooks"],
                "parameters": [ORIGIN_PARAM],
                "responses": {
                    "204": {"description": "allowed origin"},
                    "403": _error_response("origin not allowed"),
                },
            },
        }
    }


def deliver_paths() -> dict[str, Any]:
    return {
        "/v1/deliver": {
            "post": {
                "operationId": "deliver",
                "summary": "Pub/Sub push of one event id (gcp backend): deliver it now",
                "tags": ["delivery"],
                "security": [{"pubsubOidc": []}, {"pushToken": []}],
                "requestBody": {"required": True, "content": _json(_ref("PubsubPush"))},
                "responses": {
                    "204": {"description": "ack: delivered, dead-lettered, skipped or unknown"},
                    "400": _error_response("not a push body; the message names the field"),
                    "401": _error_response("OIDC token or ?token= missing or rejected"),
                    "403": _error_response(
                        "disabled: neither SGTM_PUSH_AUDIENCE nor SGTM_PUSH_TOKEN is set"
                    ),
                    "413": _error_response("body over the web source's max_body_bytes"),
                    "503": {
                        "description": "nack: destinations still pending, or delivery is not "
                        "configured (an error body)",
                        "content": _json({"oneOf": [_ref("DeliveryPending"), _ref("Error")]}),
                    },
                },
            }
        }
    }


# --- the document ------------------------------------------------------------------------------


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
        "items": _ref("Envelope"),
        "minItems": 1,
        "maxItems": max_batch,
    }
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
    outcomes = [QUEUED, BLOCKED, ANONYMIZED, NOT_IN_ROLLOUT, *SKIPPED]
    components["EventResult"] = {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "event_id": {"type": ["string", "null"]},
            "status": {"enum": [ACCEPTED, DUPLICATE, REJECTED]},
            "errors": {"type": "array", "items": _ref("FieldError")},
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
        "properties": {"results": {"type": "array", "items": _ref("EventResult")}},
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
                    "errors": {"type": "array", "items": _ref("FieldError")},
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
    counters = ["requests", "errors_5xx", "accepted", "duplicates", "rejected", "skipped"]
    has_webhooks = app is None or "sgtm_webhooks" in app.extensions
    components["Stats"] = {
        "type": "object",
        "properties": {
            "revision": {"type": "string"},
            **{name: {"type": "integer"} for name in counters},
            "delivery_failures": {"type": "integer"},
            "delivered": {"type": "integer"},
            "scope": {"type": "object"},
            "webhooks": _ref("JoinCounters"),
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
    components["Health"] = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
        "required": ["status"],
    }
    components["Context"] = context_schema(plan)
    components.update(shopify_schemas(plan))
    components.update(woocommerce_schemas(plan))
    components.update(stripe_schemas())
    components["PubsubPush"] = PUSH_SCHEMA
    components.update(answer_schemas())
    json_ok = _json({"type": "object"})
    paths: dict[str, Any] = {
        "/v1/events": {
            "post": {
                "operationId": "postEvents",
                "summary": "Send one envelope or a batch",
                "security": [{"browserToken": []}, {"requestSignature": []}],
                "parameters": [ORIGIN_PARAM],
                "requestBody": {
                    "required": True,
                    "description": f"at most {max_body_bytes} bytes",
                    "content": _json({"oneOf": [_ref("Envelope"), _ref("Batch")]}),
                },
                "responses": {
                    "200": _answer("one result per event", "Results"),
                    "400": _error_response("malformed JSON, or an invalid single envelope"),
                    "401": _error_response("missing or invalid credentials"),
                    "403": _error_response("origin not allowed"),
                    "404": _error_response("the plan declares no web source"),
                    "413": _error_response("body or batch too large"),
                    "415": _error_response("not application/json"),
                    "429": _error_response("rate limited", RETRY_AFTER),
                    "503": _error_response("outbox unavailable; retry", RETRY_AFTER),
                },
            },
            "options": {
                "operationId": "preflightEvents",
                "summary": "CORS preflight",
                "parameters": [ORIGIN_PARAM],
                "responses": {
                    "204": {"description": "allowed origin"},
                    "403": _error_response("origin not allowed"),
                    "429": _error_response("rate limited", RETRY_AFTER),
                },
            },
        },
        **{
            prefix + "/healthz": {
                "get": {
                    "operationId": "healthz" + suffix,
                    "responses": {"200": _answer("alive", "Health")},
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
                        "200": _answer("plan loaded, outbox writable", "Health"),
                        "503": _answer("outbox unavailable", "Health"),
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
        "/v1/stats": {
            "get": {
                "operationId": "stats",
                "summary": "Counters for the rollout gate (a server's v2 request signature)",
                "security": [{"requestSignature": []}],
                "responses": {
                    "200": _answer("counters", "Stats"),
                    "401": _error_response(
                        "no, or no valid, version 2 request signature over GET /v1/stats"
                    ),
                    "404": _error_response("the plan declares no web source (no server key)"),
                },
            }
        },
        **webhook_paths(),
        **context_paths(),
        **deliver_paths(),
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


# The app factory sets it on every answer, errors and 204s included.
REQUEST_ID_HEADER = {
    "description": "the caller's X-Request-Id when well-formed (8-64 of A-Za-z0-9._-), else a "
    "fresh one; quote it when reporting a problem",
    "required": True,
    "schema": {"type": "string", "minLength": 8, "maxLength": 64},
}


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
