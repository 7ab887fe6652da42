"""The tracking plan as typed, immutable objects.

Everything downstream (schemas, templates, the container, the sidecar's policy) is computed from
these objects; nothing downstream reads the YAML. The loader builds them only from a plan that
has no errors, so code here may trust every invariant the loader checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENVELOPE_SCHEMA_MAJOR = 1

BUILTIN_PURPOSES = ("analytics", "ads", "functional")
PARAM_TYPES = ("string", "number", "integer", "boolean", "currency", "timestamp", "items")
CANONICAL_EVENTS = ("view_item", "add_to_cart", "begin_checkout", "purchase", "refund")
IDENTITY_FIELDS = ("client_id", "session_id", "user_id")
PII_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "region",
    "postal_code",
    "country",
    "external_id",
)
CONTEXT_FIELDS = (
    "page_location",
    "page_referrer",
    "user_agent",
    "ip",
    "fbp",
    "fbc",
    "gclid",
    "language",
    "gcs",
    "gcd",
    "tcf",
    "channel",
)
# Where an order was placed (envelope context.channel), so each destination can say so in its
# own terms: Meta's action_source (docs/destinations.md). An event without one came from a
# browser session (the Event API, or another client), i.e. the web.
ORDER_CHANNELS = ("web", "pos", "subscription", "other")
ITEM_FIELDS = ("id", "name", "category", "qty", "price")
DESTINATION_KINDS = ("ga4", "meta_capi", "google_ads", "bigquery", "http")
SOURCE_KINDS = ("web", "shopify", "woocommerce", "stripe")
IP_POLICIES = ("none", "anonymized", "full")
MISSING_CONSENT_POLICIES = ("strict", "by_basis")
ANALYTICS_WITHOUT_CONSENT = ("drop", "anonymize")
PURPOSE_BASES = ("consent", "legitimate_interest")
DESTINATION_MODES = ("live", "shadow")

# Platform limits on how late an event may still be sent (protocols.md): Meta accepts events up
# to 7 days old, GA4 Measurement Protocol 72 hours, Google Ads conversions are retried a day.
DEFAULT_RETRY_WINDOW_HOURS = {
    "ga4": 72,
    "meta_capi": 168,
    "google_ads": 24,
    "bigquery": 168,
    "http": 24,
}
# Meta deduplicates pixel and server events with the same event_name and event_id only when
# they arrive within 48 hours of each other (Meta, server event parameters, event_name).
META_DEDUPE_HOURS = 48
# Which normalisation and hashing rules each kind applies to user_data (protocols.md §2.4, §3.1).
HASHING_RULES = {
    "ga4": "google",
    "meta_capi": "meta",
    "google_ads": "google",
    "bigquery": "google",
    "http": "google",
}
# PII fields each kind can accept at all; the plan narrows this per destination.
KIND_PII = {
    "ga4": (
        "email",
        "phone",
        "first_name",
        "last_name",
        "city",
        "region",
        "postal_code",
        "country",
    ),
    "meta_capi": PII_FIELDS,
    "google_ads": (
        "email",
        "phone",
        "first_name",
        "last_name",
        "city",
        "region",
        "postal_code",
        "country",
    ),
    "bigquery": PII_FIELDS,
    "http": PII_FIELDS,
}


@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core


@dataclass(frozen=True)
class SecretRef:
    """The name of an environment variable that holds a secret at run time, never the value."""

    env: str
    where: str  # dotted path in the plan, for messages ("sources.shopify.secret")

    def __str__(self) -> str:
        return self.env


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool = False
    description: str = ""
    enum: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str = ""
    max_length: int | None = None


@dataclass(frozen=True)
class Event:
    name: str
    params: dict[str, Param]
    description: str = ""

    @property
    def canonical(self) -> bool:
        return self.name in CANONICAL_EVENTS


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str = ""
    basis: str = "consent"

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_PURPOSES


@dataclass(frozen=True)
class ConsentPolicy:
    missing: str = "strict"
    analytics_without_consent: str = "drop"


@dataclass(frozen=True)
class Destination:
    name: str
    kind: str
    purposes: tuple[str, ...]
    events: dict[str, str]  # plan event name -> the destination's own name for it
    pii: tuple[str, ...] = ()
    ip: str = "anonymized"
    user_agent: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, SecretRef] = field(default_factory=dict)
    retry_window_hours: int = 24
    max_attempts: int = 20
    rollout: int = 100
    mode: str = "live"
    description: str = ""
    # Plan events the browser pixel also sends, with the same event_id (meta_capi only): Meta
    # deduplicates the two only within META_DEDUPE_HOURS, so a later server copy would count
    # twice and is not retried past it (docs/destinations.md).
    pixel_events: tuple[str, ...] = ()

    @property
    def hashing(self) -> str:
        # An http receiver chooses its rules (settings.hashing); other kinds have their own.
        if self.kind == "http":
            return str(self.settings.get("hashing", HASHING_RULES["http"]))
        return HASHING_RULES[self.kind]


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    secrets: dict[str, SecretRef]  # role ("secret", "token_keys", "signing_keys") -> reference
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    client_path: str = "/s2s/events"
    keys: SecretRef | None = None
    batch_size: int = 20


@dataclass(frozen=True)
class Plan:
    name: str
    version: SemVer
    currency: str
    region: str
    retention_days: int
    purposes: dict[str, Purpose]
    consent: ConsentPolicy
    user_data: tuple[str, ...]
    item_fields: dict[str, Param]
    max_items: int
    events: dict[str, Event]
    destinations: dict[str, Destination]
    sources: dict[str, Source]
    delivery: Delivery
    description: str = ""
    default_country: str = ""
    dedupe_window_hours: int = 48
    source_path: str = "<plan>"

    def destinations_for(self, event_name: str) -> list[Destination]:
        return [d for d in self.destinations.values() if event_name in d.events]

    def sidecar_secret_refs(self) -> list[SecretRef]:
        """The secrets the sidecar itself reads: source secrets and the delivery keyset.

        Destination credentials are the sGTM tags' (container constants), so the sidecar never
        holds them: least privilege, and one fewer place a Meta token can leak from.
        """
        refs = [ref for source in self.sources.values() for ref in source.secrets.values()]
        if self.delivery.keys is not None:
            refs.append(self.delivery.keys)
        return refs

    def secret_refs(self) -> list[SecretRef]:
        refs: list[SecretRef] = []
        for source in self.sources.values():
            refs.extend(source.secrets.values())
        for dest in self.destinations.values():
            refs.extend(dest.credentials.values())
        if self.delivery.keys is not None:
            refs.append(self.delivery.keys)
        return refs
