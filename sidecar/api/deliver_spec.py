"""The Pub/Sub push endpoint's description (``POST /v1/deliver``, gcp backend)."""

from __future__ import annotations

from typing import Any

from sidecar.api.spec import error_response, json_content, ref

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


def deliver_paths() -> dict[str, Any]:
    return {
        "/v1/deliver": {
            "post": {
                "operationId": "deliver",
                "summary": "Pub/Sub push of one event id (gcp backend): deliver it now",
                "tags": ["delivery"],
                "security": [{"pubsubOidc": []}, {"pushToken": []}],
                "requestBody": {"required": True, "content": json_content(ref("PubsubPush"))},
                "responses": {
                    "204": {"description": "ack: delivered, dead-lettered, skipped or unknown"},
                    "400": error_response("not a push body; the message names the field"),
                    "401": error_response("OIDC token or ?token= missing or rejected"),
                    "403": error_response(
                        "disabled: neither SGTM_PUSH_AUDIENCE nor SGTM_PUSH_TOKEN is set"
                    ),
                    "413": error_response("body over the web source's max_body_bytes"),
                    "503": {
                        "description": "nack: destinations still pending, or delivery is not "
                        "configured (an error body)",
                        "content": json_content({"oneOf": [ref("DeliveryPending"), ref("Error")]}),
                    },
                },
            }
        }
    }


def components() -> dict[str, Any]:
    return {"PubsubPush": PUSH_SCHEMA}


def paths() -> dict[str, Any]:
    return deliver_paths()
