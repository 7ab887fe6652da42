"""The order webhooks' and the identity context's description: request schemas derived from the
code that checks them (the context rules in ``sidecar.webhooks.identity``, the mappings'
constants, the source settings in the plan), so the document cannot drift from what the service
accepts; and their answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from formats.plan.model import Plan
from sidecar.api.spec import (
    ORIGIN_PARAM,
    RETRY_AFTER,
    answer,
    error_response,
    header_param,
    json_content,
    ref,
    settings_of,
)
from sidecar.decision.consent import ANONYMIZED, BLOCKED, NOT_IN_ROLLOUT, QUEUED, SKIPPED
from sidecar.ingest import ACCEPTED, DUPLICATE
from sidecar.webhooks import identity, shopify, stripe, woocommerce

IGNORED = "ignored"  # the webhook answer's status for deliveries deliberately not counted
SHOPIFY_TOPICS = ("orders/paid", "orders/create", "refunds/create")  # shopify.map_webhook's
PLATFORM_DOCS = {
    "shopify": "https://shopify.dev/docs/apps/build/webhooks/",
    "woocommerce": "https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties",
    "stripe": "https://docs.stripe.com/api/events/object",
}


# An id as ``Node.ident`` reads it: a non-negative integer or a string with a non-blank character.
ID = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"\S"}]}
# An amount as ``money.parse_amount`` reads it (text or a JSON number).
AMOUNT = {"type": ["string", "number"]}
CURRENCY = {"type": "string", "description": "ISO 4217 code (any case)"}
DATE_TIME = {"type": "string", "description": "ISO 8601 date-time"}
# Members the mappings read only when present: null counts as absent (``Node.present``).
OPTIONAL_AMOUNT = {"type": ["string", "number", "null"]}
OPTIONAL_DATE_TIME = {"type": ["string", "null"], "description": "ISO 8601 date-time"}


def present(names: Iterable[str], schema: dict[str, Any]) -> dict[str, Any]:
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


def priced_lines(required: list[str]) -> dict[str, Any]:
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
    settings = settings_of(plan, "shopify", shopify.DEFAULT_SETTINGS)
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
            "line_items": priced_lines(["quantity"]),
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
            present(["processed_at", "created_at"], DATE_TIME),
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
            "anyOf": [ref("ShopifyOrder"), ref("ShopifyRefund")],
        },
    }


def woocommerce_schemas(plan: Plan) -> dict[str, Any]:
    settings = settings_of(plan, "woocommerce", woocommerce.DEFAULT_SETTINGS)
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
                "line_items": priced_lines(["quantity"]),
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
                **present(["date_paid_gmt", "date_created_gmt"], DATE_TIME),
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
                    "items": ref("WebhookEvent"),
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
                "events": {"type": "array", "items": ref("WebhookEvent")},
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


def webhook_operation(
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
            "200": answer("accepted, duplicate or ignored (with the reason)", "WebhookAnswer"),
            "202": answer(
                "authentic, but a missing topic header, a body that is not JSON, a payload the "
                "mapping cannot read, or a mapped event the plan rejects: quarantined (never a "
                "4xx, which would make the platform retry and then drop the subscription); "
                "errors name the JSON pointer",
                "WebhookQuarantined",
            ),
            "401": error_response("the signature is missing, malformed or wrong (nothing read)"),
            "404": error_response(f"the tracking plan declares no {platform} source"),
            "413": error_response("body over the web source's max_body_bytes"),
            "503": error_response("the outbox cannot take events; retry", RETRY_AFTER),
        },
    }


def webhook_paths() -> dict[str, Any]:
    shopify_op = webhook_operation(
        "shopify",
        "Shopify order webhooks (orders/paid, orders/create, refunds/create)",
        "shopifyHmac",
        json_content(ref("ShopifyWebhook")),
        [
            header_param(
                "X-Shopify-Topic",
                "quarantined (202) when missing; other topics are acknowledged as ignored",
                True,
                SHOPIFY_TOPICS,
            ),
            header_param("X-Shopify-Webhook-Id", "unique per delivery; deduplicates redeliveries"),
        ],
    )
    woo_op = webhook_operation(
        "woocommerce",
        "WooCommerce order webhooks (" + ", ".join(woocommerce.ORDER_TOPICS) + ")",
        "wooSignature",
        {
            **json_content(ref("WooCommerceOrder")),
            "application/x-www-form-urlencoded": {"schema": ref("WooCommercePing")},
        },
        [
            header_param(
                "X-WC-Webhook-Topic",
                "required on signed deliveries (quarantined when missing); other topics are "
                "acknowledged as ignored",
                known=woocommerce.ORDER_TOPICS,
            ),
            header_param("X-WC-Webhook-Resource", "e.g. order (informational)"),
            header_param("X-WC-Webhook-Event", "e.g. updated (informational)"),
        ],
    )
    stripe_op = webhook_operation(
        "stripe",
        "Stripe events (checkout sessions, refunds)",
        "stripeSignature",
        json_content(ref("StripeEvent")),
        [],
    )
    return {
        "/v1/webhooks/shopify": {"post": shopify_op},
        "/v1/webhooks/woocommerce": {"post": woo_op},
        "/v1/webhooks/stripe": {"post": stripe_op},
    }


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
                    header_param("User-Agent", "stored when the body has no user_agent"),
                ],
                "requestBody": {"required": True, "content": json_content(ref("Context"))},
                "responses": {
                    "200": answer("stored under the token", "ContextStored"),
                    "400": error_response(
                        "not JSON, or invalid: errors lists every problem by JSON pointer"
                    ),
                    "401": error_response("missing or invalid credentials"),
                    "403": error_response("origin not allowed, or a token for another origin"),
                    "404": error_response("the plan declares no web source"),
                    "413": error_response("body over the web source's max_body_bytes"),
                    "415": error_response("not application/json"),
                    "429": error_response("rate limited", RETRY_AFTER),
                    "503": error_response("the store cannot take the context; retry", RETRY_AFTER),
                },
            },
            "options": {
                "operationId": "preflightContext",
                "summary": "CORS preflight",
                "tags": ["webhooks"],
                "parameters": [ORIGIN_PARAM],
                "responses": {
                    "204": {"description": "allowed origin"},
                    "403": error_response("origin not allowed"),
                },
            },
        }
    }


def components(plan: Plan) -> dict[str, Any]:
    """The context's and each platform's request schemas, and the webhook answers."""
    return {
        "Context": context_schema(plan),
        **shopify_schemas(plan),
        **woocommerce_schemas(plan),
        **stripe_schemas(),
        **answer_schemas(),
    }


def paths() -> dict[str, Any]:
    return {**webhook_paths(), **context_paths()}
