"""What each destination and source kind accepts in the plan: keys, settings with their
format, credential and secret roles. Adding a kind starts here (docs/destinations.md)."""

from __future__ import annotations

import re

DEST_KEYS = (
    "kind",
    "description",
    "purposes",
    "events",
    "pii",
    "ip",
    "user_agent",
    "settings",
    "credentials",
    "retry_window_hours",
    "max_attempts",
    "max_rate_per_s",
    "rollout",
    "mode",
    "recipient",
    "pixel_events",
)
# Settings each destination kind understands: name -> (required, validator description).
KIND_SETTINGS: dict[str, dict[str, tuple[bool, str]]] = {
    "ga4": {
        "measurement_id": (True, r"^G-[A-Z0-9]{4,20}$"),
        "endpoint": (False, "eu|global"),
    },
    "meta_capi": {
        "pixel_id": (True, r"^\d{5,20}$"),
        "api_version": (False, r"^v\d{2}\.\d$"),
        "test_event_code": (False, r"^[A-Za-z0-9]{1,32}$"),
    },
    "google_ads": {
        "customer_id": (True, r"^\d{3}-?\d{3}-?\d{4}$"),
        "login_customer_id": (False, r"^\d{3}-?\d{3}-?\d{4}$"),
        "conversion_id": (False, r"^(AW-)?\d{6,12}$"),
    },
    "bigquery": {
        "project": (True, r"^[a-z][a-z0-9\-]{4,28}[a-z0-9]$"),
        "dataset": (True, r"^[A-Za-z0-9_]{1,1024}$"),
        "table": (True, r"^[A-Za-z0-9_\-]{1,1024}$"),
        # The dataset's location (BigQuery: "EU", "US" or a region); default the plan's region.
        "location": (False, r"^(EU|US|[a-z]+-[a-z]+\d+)$"),
    },
    "http": {
        "url": (True, r"^https://[^\s]+$"),
        "hashing": (False, "google|meta"),
        # A key id in the sGTM key file (SGTM_CREDENTIALS), not a secret: the tag signs each
        # body with it (docs/destinations.md).
        "signing_key_id": (False, r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    },
}
KIND_CREDENTIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind -> (required credential roles, optional ones)
    "ga4": (("api_secret",), ()),
    "meta_capi": (("access_token",), ()),
    "google_ads": (("developer_token",), ()),
    "bigquery": ((), ()),
    "http": ((), ("bearer_token",)),
}
SOURCE_SECRETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "web": (("token_keys", "signing_keys"), ()),
    "shopify": (("secret",), ()),
    "woocommerce": (("secret",), ()),
    "stripe": (("secret",), ()),
}
SOURCE_SETTINGS: dict[str, dict[str, str]] = {
    "web": {
        "origins": "list of https origins",
        "token_ttl_seconds": "int",
        "max_batch": "int",
        "max_body_bytes": "int",
        "rate_limit_per_key": "rate",
        "rate_limit_per_ip": "rate",
    },
    "shopify": {
        "purchase_topics": "list",
        "test_orders": "drop|forward",
        "zero_value_orders": "drop|forward",
    },
    "woocommerce": {
        "paid_statuses": "list",
        "test_orders": "drop|forward",
        "zero_value_orders": "drop|forward",
    },
    "stripe": {
        "tolerance_seconds": "int",
        "test_orders": "drop|forward",
        "zero_value_orders": "drop|forward",
    },
}
SHOPIFY_TOPICS = ("orders/create", "orders/paid")
RATE = re.compile(r"^\d+\s*(/|per)\s*(second|minute|hour|day)$")
