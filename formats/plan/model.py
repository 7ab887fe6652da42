"""The tracking plan as typed, immutable objects.

Everything downstream (schemas, templates, the container, the sidecar's policy) is computed from
these objects; nothing downstream reads the YAML. The loader builds them only from a plan that
has no errors, so code here may trust every invariant the loader checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    "region",  # the region the page claims (DE, US-CA): can only make consent stricter
    "gpc",  # "1" when the browser sends Global Privacy Control
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
RESIDENCIES = ("eu", "none")
# Page URL query parameters (sidecar/urlmin.py): measurement needs these, they are never
# personal data by name (values are still checked)...
URL_ALLOW_PARAMS = ("gclid", "gbraid", "wbraid", "fbclid", "ttclid")  # and every utm_*
# ...and these names, or words of names (customer[email], billing-phone), carry personal data
# or secrets. The plan's privacy.url_params adds to both.
URL_DENY_PARAMS = (
    "address",
    "auth",
    "birthday",
    "card",
    "dob",
    "email",
    "firstname",
    "fullname",
    "iban",
    "lastname",
    "mail",
    "mobile",
    "name",
    "pass",
    "password",
    "phone",
    "postcode",
    "pwd",
    "secret",
    "ssn",
    "street",
    "surname",
    "tel",
    "telephone",
    "token",
    "zip",
)

# What each source kind's settings are when the plan leaves them out: the loader fills them
# in, and the sidecar falls back to them when the plan has no source of that kind.
SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "web": {
        "origins": [],
        "token_ttl_seconds": 900,
        "max_batch": 100,
        "max_body_bytes": 1_048_576,
        "rate_limit_per_key": "1200/minute",
        "rate_limit_per_ip": "300/minute",
    },
    "shopify": {
        "purchase_topics": ["orders/paid"],
        "test_orders": "drop",
        "zero_value_orders": "forward",
    },
    "woocommerce": {
        "paid_statuses": ["processing", "completed"],
        "test_orders": "drop",
        "zero_value_orders": "forward",
    },
    "stripe": {
        "tolerance_seconds": 300,
        "test_orders": "drop",
        "zero_value_orders": "forward",
    },
}

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


CONSENT_SOURCES = ("event", "gcs", "gcd", "tcf")  # who may speak about a purpose


def subdivision_code(country: str, subdivision: str) -> str:
    """ISO 3166-2 `US-CA` from `US-CA`, or from the load balancer's CLDR id `USCA` / `usca`."""
    country, code = country.upper(), subdivision.upper()
    if "-" in code:
        return code
    if code.startswith(country) and len(code) > len(country):
        code = code[len(country) :]
    return f"{country}-{code}"


@dataclass(frozen=True)
class RegionRule:
    """Consent defaults for visitors from some countries / subdivisions (ISO 3166)."""

    name: str
    countries: tuple[str, ...] = ()  # "DE"
    subdivisions: tuple[str, ...] = ()  # "US-CA": matched before any country
    # purpose -> granted when no source speaks about it; a purpose not listed falls back to the
    # plan's `missing` policy.
    defaults: dict[str, bool] = field(default_factory=dict)
    # Sources that may grant a purpose whose default is denied; the others can only restrict.
    may_grant: tuple[str, ...] = ("event",)
    gpc_denies_ads: bool = False  # Sec-GPC: 1 (Global Privacy Control) means "ads denied"
    meta_ldu: bool = False  # Meta events carry data_processing_options ["LDU"] (geolocated)
    description: str = ""


@dataclass(frozen=True)
class ConsentPolicy:
    missing: str = "strict"
    analytics_without_consent: str = "drop"
    regions: dict[str, RegionRule] = field(default_factory=dict)
    default_region: str = ""  # the rule used when no trusted region is known

    def rule_for(self, country: str | None, subdivision: str | None) -> RegionRule | None:
        """The rule for a location: a subdivision match first, then the country, then the
        default region; None when the plan has no regions."""
        if not self.regions:
            return None
        if country and subdivision:
            code = subdivision_code(country, subdivision)
            for rule in self.regions.values():
                if code in rule.subdivisions:
                    return rule
        if country:
            for rule in self.regions.values():
                if country.upper() in rule.countries:
                    return rule
        return self.regions[self.default_region]


@dataclass(frozen=True)
class ResidencyException:
    """A location outside the residency area, accepted on purpose and on the record."""

    what: str  # "region", "destinations.<name>" (a BigQuery dataset) or "firestore"
    location: str
    reason: str


@dataclass(frozen=True)
class Recipient:
    """Who a destination's data goes to, for the records of processing (the plan's
    `recipient:` of a destination overrides the kind's defaults in generator/plan/ropa.py)."""

    vendor: str = ""
    role: str = ""
    location: str = ""
    safeguard: str = ""


@dataclass(frozen=True)
class PrivacyPolicy:
    url_deny_params: tuple[str, ...] = ()  # added to URL_DENY_PARAMS
    url_keep_params: tuple[str, ...] = ()  # added to URL_ALLOW_PARAMS
    residency: str = "none"  # "eu": data locations must be in the EU (plan check enforces)
    residency_exceptions: tuple[ResidencyException, ...] = ()
    firestore_location: str = ""  # "" = the plan's region
    # GDPR Art. 30(1)(a): name, address, contact, dpo, representative (free text)
    controller: dict[str, str] = field(default_factory=dict)
    transfer_safeguard: str = ""  # e.g. "EU-US Data Privacy Framework", for US recipients
    contexts_retention_days: int = 30  # checkout identity contexts (/v1/context)

    @property
    def deny_params(self) -> tuple[str, ...]:
        return URL_DENY_PARAMS + tuple(p for p in self.url_deny_params if p not in URL_DENY_PARAMS)

    @property
    def keep_params(self) -> tuple[str, ...]:
        return self.url_keep_params


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
    # Events per second the delivery worker sends this destination at most (a token bucket
    # per destination, sidecar/delivery/throttle.py); None: no limit of its own.
    max_rate_per_s: int | None = None
    rollout: int = 100
    mode: str = "live"
    description: str = ""
    recipient: Recipient = field(default_factory=lambda: Recipient())
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

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data, in one place: the sidecar's policy carries all of it and
        the plan dump writes it back as YAML (leaving out what is empty)."""
        return {
            "kind": self.kind,
            "description": self.description,
            "purposes": list(self.purposes),
            "events": dict(self.events),
            "pii": list(self.pii),
            "hashing": self.hashing,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "settings": dict(self.settings),
            "credentials": {role: ref.env for role, ref in self.credentials.items()},
            "retry_window_hours": self.retry_window_hours,
            "max_attempts": self.max_attempts,
            "max_rate_per_s": self.max_rate_per_s,
            "rollout": self.rollout,
            "mode": self.mode,
            "pixel_events": list(self.pixel_events),
            "recipient": {k: v for k, v in asdict(self.recipient).items() if v},
        }


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
class Band:
    """How far a destination's coverage may stray from 100 % (the guide's +-3-10 %)."""

    target_pct: float = 3.0  # within this: on target
    tolerance_pct: float = 10.0  # beyond this: out of band (sgtm reconcile exits 1)


@dataclass(frozen=True)
class OrderPull:
    """Where ``sgtm reconcile`` reads a platform's own order list (secrets by env-var name)."""

    source: str  # the plan source whose orders these are
    kind: str  # shopify | woocommerce | stripe
    settings: dict[str, Any] = field(default_factory=dict)  # shop, url, api_version ...
    credentials: dict[str, SecretRef] = field(default_factory=dict)


@dataclass(frozen=True)
class Reconcile:
    """The ``reconcile`` section: how ``sgtm reconcile`` judges each day (docs/plan.md)."""

    timezone: str = "UTC"
    events: tuple[str, ...] = ("purchase",)
    band: Band = Band()
    latency_sla_minutes: int | None = None
    bands: dict[str, Band] = field(default_factory=dict)  # per destination
    latency_slas: dict[str, int] = field(default_factory=dict)  # per destination, minutes
    pulls: dict[str, OrderPull] = field(default_factory=dict)
    ga4_property: str = ""
    ga4_credentials: SecretRef | None = None

    def band_for(self, destination: str) -> Band:
        return self.bands.get(destination, self.band)

    def sla_for(self, destination: str) -> int | None:
        return self.latency_slas.get(destination, self.latency_sla_minutes)


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
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    source_path: str = "<plan>"
    reconcile: Reconcile = Reconcile()

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
