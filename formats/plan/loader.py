"""Read a tracking plan from YAML into the model, reporting every problem with its position.

The reader walks ruamel.yaml's round-trip nodes because they keep the line and column of every
key and value; each problem is reported as ``FILE:LINE:COL: message`` with a suggestion where one
exists. Nothing is built unless the whole plan is free of errors.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, SequenceNode

from formats.plan import meta_versions
from formats.plan import model as m
from formats.plan.errors import PlanError, Problem
from formats.plan.reconcile_section import read_reconcile

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,127}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
SUBDIVISION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
# Google Cloud region names; EU-ness is a deployment concern checked by Terraform.
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
CONTROLLER_KEYS = ("name", "address", "contact", "dpo", "representative")
RECIPIENT_KEYS = ("vendor", "role", "location", "safeguard")
URL_PARAM = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
HTTP_PATH = re.compile(r"^/[A-Za-z0-9_\-./]*$")
# Strings that look like credentials pasted where a reference belongs: known vendor prefixes,
# or long high-entropy tokens mixing letters and digits.
SECRET_PREFIXES = ("shpss_", "shpat_", "sk_live_", "sk_test_", "whsec_", "EAA", "AIza", "ya29.")
TOKENLIKE = re.compile(r"^[A-Za-z0-9_\-+/=.:]{20,}$")

Pos = tuple[int, int]

TOP_KEYS = (
    "plan",
    "version",
    "description",
    "currency",
    "region",
    "retention_days",
    "default_country",
    "dedupe_window_hours",
    "consent",
    "user_data",
    "items",
    "events",
    "destinations",
    "sources",
    "delivery",
    "reconcile",
    "privacy",
)
TOP_REQUIRED = ("plan", "version", "currency", "region", "retention_days", "events", "destinations")
PARAM_KEYS = (
    "type",
    "required",
    "description",
    "enum",
    "min",
    "max",
    "pattern",
    "max_length",
)
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


def load_plan(path: str | Path) -> m.Plan:
    """Load and check a plan file; raise ``PlanError`` carrying every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(
            [Problem(str(path), 1, 1, f"cannot read the plan: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise PlanError(
            [Problem(str(path), 1, 1, f"the plan is not UTF-8: {exc.reason}")]
        ) from None
    return load_plan_text(text, str(path))


def load_plan_text(text: str, source: str = "<plan>") -> m.Plan:
    plan, problems = check_plan_text(text, source)
    errors = [p for p in problems if p.level == "error"]
    if errors or plan is None:
        raise PlanError(problems)
    return plan


def check_plan_text(
    text: str, source: str = "<plan>", today: date | None = None
) -> tuple[m.Plan | None, list[Problem]]:
    """Parse and check; returns the plan (None when there are errors) and all problems.

    With ``today`` the platform versions the plan pins are also judged against their published
    expiry dates (``sgtm plan check``). Loading for generate or serve leaves it out: a plan must
    not stop loading, and a running sidecar must not stop starting, because a calendar day came.
    """
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except DuplicateKeyError:
        # ruamel's message dumps both values and names one position; say where each is.
        return None, duplicate_keys(text, source) or [Problem(source, 1, 1, "duplicate key")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return None, [Problem(source, line, col, f"not valid YAML: {message}")]
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types for bad input
        return None, [Problem(source, 1, 1, f"not valid YAML: {exc}")]
    reader = _Reader(source)
    plan = reader.plan(doc)
    if today is not None:
        reader.check_versions(today)
    errors = [p for p in reader.problems if p.level == "error"]
    return (None if errors else plan), sorted(reader.problems)


def duplicate_keys(text: str, source: str) -> list[Problem]:
    """One problem per repeated mapping key, at the repeat, naming where the key first was.

    Composing builds the node graph without constructing mappings, so repeats are still there.
    """
    try:
        root = YAML(typ="rt").compose(text)
    except Exception:  # noqa: BLE001 - ruamel raises several unrelated types for bad input
        return []
    problems: list[Problem] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, MappingNode):
            first: dict[str, Any] = {}
            for key, value in node.value:
                name = str(key.value)
                where = f"{path}.{name}" if path else name
                if name in first:
                    seen = first[name].start_mark
                    problems.append(
                        Problem(
                            source,
                            key.start_mark.line + 1,
                            key.start_mark.column + 1,
                            f"{where}: duplicate key {name!r}; it is first defined at line "
                            f"{seen.line + 1}, column {seen.column + 1}",
                            "merge the two or rename one",
                        )
                    )
                else:
                    first[name] = key
                walk(value, where)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    walk(root, "")
    return problems


def suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    # A prefix relation ("meta" for "meta_capi") is the likeliest slip; then spelling distance.
    prefixed = [c for c in choices if len(word) >= 3 and (c.startswith(word) or word.startswith(c))]
    close = prefixed or difflib.get_close_matches(word, choices, n=1, cutoff=0.65)
    return f"did you mean {close[0]!r}?" if close else ""


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        # (where, position, version) of every Meta destination's API version, for dated checks.
        self.meta_versions: list[tuple[str, Pos, str]] = []

    def check_versions(self, today: date) -> None:
        for where, pos, version in self.meta_versions:
            verdict = meta_versions.check_version(version, today)
            if verdict.level == "error":
                self.error(pos, f"{where}: {verdict.message}", verdict.suggestion)
            elif verdict.level == "warning":
                self.warn(pos, f"{where}: {verdict.message}", verdict.suggestion)

    # -- reporting -------------------------------------------------------------------------
    def error(self, pos: Pos, message: str, suggestion: str = "") -> None:
        self.problems.append(Problem(self.source, pos[0] + 1, pos[1] + 1, message, suggestion))

    def warn(self, pos: Pos, message: str, suggestion: str = "") -> None:
        self.problems.append(
            Problem(self.source, pos[0] + 1, pos[1] + 1, message, suggestion, level="warning")
        )

    # -- node helpers ----------------------------------------------------------------------
    @staticmethod
    def pos_of(node: Any, default: Pos = (0, 0)) -> Pos:
        lc = getattr(node, "lc", None)
        if lc is not None and lc.line is not None:
            return (lc.line, lc.col)
        return default

    @staticmethod
    def key_pos(node: CommentedMap | None, key: str) -> Pos:
        if node is None:
            return _Reader.pos_of(node)
        try:
            line, col = node.lc.key(key)
            return (line, col)
        except (KeyError, TypeError, AttributeError):
            return _Reader.pos_of(node)

    @staticmethod
    def value_pos(node: CommentedMap | CommentedSeq | None, key: Any) -> Pos:
        if node is None:
            return _Reader.pos_of(node)
        try:
            if isinstance(node, CommentedSeq):
                line, col = node.lc.item(key)
            else:
                line, col = node.lc.value(key)
            return (line, col)
        except (KeyError, TypeError, AttributeError, IndexError):
            return _Reader.pos_of(node)

    def mapping(
        self,
        node: Any,
        where: str,
        pos: Pos,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> CommentedMap | None:
        if node is None:
            node = CommentedMap()
        if not isinstance(node, CommentedMap):
            self.error(pos, f"{where} must be a mapping, not {_kind(node)}")
            return None
        for key in node:
            if not isinstance(key, str):
                self.error(self.key_pos(node, key), f"{where}: keys must be strings, got {key!r}")
        if allowed is not None:
            allowed = tuple(allowed)
            for key in node:
                if isinstance(key, str) and key not in allowed:
                    self.error(
                        self.key_pos(node, key),
                        f"{where}: unknown key {key!r}",
                        suggest(key, allowed) or f"known keys: {', '.join(allowed)}",
                    )
        for key in required:
            if key not in node:
                self.error(self.pos_of(node, pos), f"{where}: missing required key {key!r}")
        return node

    def string(
        self, node: CommentedMap, key: str, where: str, default: str | None = None
    ) -> str | None:
        if key not in node:
            return default
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.error(self.value_pos(node, key), f"{where}.{key} must be a non-empty string")
            return default
        return str(value)

    def integer(
        self,
        node: CommentedMap,
        key: str,
        where: str,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        if key not in node:
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(self.value_pos(node, key), f"{where}.{key} must be an integer")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            self.error(self.value_pos(node, key), f"{where}.{key} = {value} is outside {bounds}")
            return default
        return int(value)

    def boolean(self, node: CommentedMap, key: str, where: str, default: bool) -> bool:
        if key not in node:
            return default
        value = node[key]
        if not isinstance(value, bool):
            self.error(self.value_pos(node, key), f"{where}.{key} must be true or false")
            return default
        return value

    def choice(
        self, node: CommentedMap, key: str, where: str, choices: tuple[str, ...], default: str
    ) -> str:
        if key not in node:
            return default
        value = node[key]
        if value not in choices:
            self.error(
                self.value_pos(node, key),
                f"{where}.{key}: {value!r} is not one of {', '.join(choices)}",
                suggest(str(value), choices),
            )
            return default
        return str(value)

    def name_list(
        self, node: CommentedMap, key: str, where: str, choices: Iterable[str], what: str
    ) -> tuple[str, ...]:
        if key not in node or node[key] is None:
            return ()
        value = node[key]
        if not isinstance(value, CommentedSeq):
            self.error(self.value_pos(node, key), f"{where}.{key} must be a list of {what}s")
            return ()
        choices = tuple(choices)
        out: list[str] = []
        for i, item in enumerate(value):
            if item not in choices:
                self.error(
                    self.value_pos(value, i),
                    f"{where}.{key}[{i}]: unknown {what} {item!r}",
                    suggest(str(item), choices) or f"known {what}s: {', '.join(choices)}",
                )
            elif item in out:
                self.error(self.value_pos(value, i), f"{where}.{key}[{i}]: {item!r} listed twice")
            else:
                out.append(str(item))
        return tuple(out)

    def secret_ref(self, node: CommentedMap | None, key: str, where: str) -> m.SecretRef | None:
        value = node.get(key) if node is not None else None
        pos = self.value_pos(node, key)
        path = f"{where}.{key}"
        if not isinstance(value, str) or not value:
            self.error(pos, f"{path} must name an environment variable holding the secret")
            return None
        if ENV_NAME.match(value):
            return m.SecretRef(value, path)
        if looks_like_secret(value):
            self.error(
                pos,
                f"{path} looks like an inlined secret value; the plan must never hold secrets",
                f"store the value in an environment variable (on Cloud Run, a Secret Manager "
                f"secret) and write its name here, e.g. {_env_suggestion(path)}",
            )
        else:
            self.error(
                pos,
                f"{path}: {value!r} is not an environment variable name in UPPER_SNAKE_CASE",
                f"e.g. {_env_suggestion(path)}",
            )
        return None

    # -- the plan --------------------------------------------------------------------------
    def plan(self, doc: Any) -> m.Plan | None:
        root = self.mapping(doc, "plan file", (0, 0), TOP_KEYS, TOP_REQUIRED)
        if root is None:
            return None
        name = self.string(root, "plan", "plan") or ""
        if name and not re.match(r"^[a-z0-9][a-z0-9\-]{0,62}$", name):
            self.error(
                self.value_pos(root, "plan"),
                f"plan: {name!r} must be lower-case letters, digits and dashes",
            )
        version = self.semver(root)
        currency = self.string(root, "currency", "plan") or "EUR"
        if "currency" in root and not CURRENCY.match(currency):
            self.error(
                self.value_pos(root, "currency"), f"currency: {currency!r} is not an ISO 4217 code"
            )
        region = self.string(root, "region", "plan") or ""
        if region and not REGION.match(region):
            self.error(
                self.value_pos(root, "region"),
                f"region: {region!r} is not a Google Cloud region name like 'europe-west1'",
            )
        default_country = self.string(root, "default_country", "plan") or ""
        if default_country and not COUNTRY.match(default_country):
            self.error(
                self.value_pos(root, "default_country"),
                f"default_country: {default_country!r} is not an ISO 3166-1 alpha-2 code",
            )
        retention = self.integer(root, "retention_days", "plan", 395, 1, 3650) or 395
        dedupe = self.integer(root, "dedupe_window_hours", "plan", 48, 1, 24 * 30) or 48

        purposes, consent = self.consent(root)
        user_data = self.user_data(root)
        item_fields, max_items = self.items(root)
        events = self.events(root, item_fields)
        destinations = self.destinations(root, events, purposes, user_data)
        self.unreceived_events(root, events, destinations)
        sources = self.sources(root)
        delivery = self.delivery(root)
        reconcile = read_reconcile(self, root, events, destinations, sources)
        privacy = self.privacy(root, region, destinations)
        if version is None:
            return None
        return m.Plan(
            name=name,
            version=version,
            currency=currency,
            region=region,
            retention_days=retention,
            purposes=purposes,
            consent=consent,
            user_data=user_data,
            item_fields=item_fields,
            max_items=max_items,
            events=events,
            destinations=destinations,
            sources=sources,
            delivery=delivery,
            description=str(root.get("description") or ""),
            default_country=default_country,
            dedupe_window_hours=dedupe,
            privacy=privacy,
            source_path=self.source,
            reconcile=reconcile,
        )

    def unreceived_events(
        self,
        root: CommentedMap,
        events: dict[str, m.Event],
        destinations: dict[str, m.Destination],
    ) -> None:
        """An event no destination receives is accepted, validated and stored, then sent
        nowhere: almost always a forgotten `events:` entry, so say so (a warning: a plan may
        declare an event before any destination takes it)."""
        node = root.get("events")
        if not isinstance(node, CommentedMap) or any(p.level == "error" for p in self.problems):
            return
        received = {name for dest in destinations.values() for name in dest.events}
        for name in events:
            if name not in received:
                self.warn(
                    self.key_pos(node, name),
                    f"events.{name}: no destination receives this event; it is accepted and "
                    "stored but never sent",
                    "add it to a destination's events, or remove it",
                )

    def semver(self, root: CommentedMap) -> m.SemVer | None:
        if "version" not in root:
            return None
        raw = root["version"]
        match = SEMVER.match(str(raw)) if isinstance(raw, str) else None
        if not match:
            self.error(
                self.value_pos(root, "version"),
                f"version: {raw!r} is not a semantic version MAJOR.MINOR.PATCH",
                'quote it, e.g. version: "1.2.0"' if not isinstance(raw, str) else "",
            )
            return None
        return m.SemVer(int(match[1]), int(match[2]), int(match[3]), match[4] or "")

    def consent(self, root: CommentedMap) -> tuple[dict[str, m.Purpose], m.ConsentPolicy]:
        node = self.mapping(
            root.get("consent"),
            "consent",
            self.value_pos(root, "consent"),
            ("purposes", "missing", "analytics_without_consent", "regions", "default_region"),
        )
        purposes = {name: m.Purpose(name) for name in m.BUILTIN_PURPOSES}
        if node is None:
            return purposes, m.ConsentPolicy()
        declared = self.mapping(
            node.get("purposes"), "consent.purposes", self.value_pos(node, "purposes")
        )
        for name, spec in (declared or {}).items():
            where = f"consent.purposes.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                self.error(
                    self.key_pos(declared, name),
                    f"{where}: purpose names are lower_snake_case identifiers",
                )
                continue
            spec_node = self.mapping(
                spec, where, self.value_pos(declared, name), ("description", "basis")
            )
            if spec_node is None:
                continue
            basis = self.choice(spec_node, "basis", where, m.PURPOSE_BASES, "consent")
            purposes[name] = m.Purpose(name, str(spec_node.get("description") or ""), basis)
        regions = self.regions(node, purposes)
        default_region = self.string(node, "default_region", "consent", "") or ""
        if regions and default_region not in regions:
            self.error(
                self.value_pos(node, "default_region")
                if "default_region" in node
                else self.key_pos(node, "regions"),
                f"consent.default_region: {default_region or '(missing)'} must name one of the "
                f"regions ({', '.join(regions)}): it applies when no trusted region is known",
            )
            regions = {}
        elif default_region and not regions:
            self.error(
                self.value_pos(node, "default_region"),
                "consent.default_region needs consent.regions",
            )
        policy = m.ConsentPolicy(
            missing=self.choice(node, "missing", "consent", m.MISSING_CONSENT_POLICIES, "strict"),
            analytics_without_consent=self.choice(
                node, "analytics_without_consent", "consent", m.ANALYTICS_WITHOUT_CONSENT, "drop"
            ),
            regions=regions,
            default_region=default_region if regions else "",
        )
        return dict(sorted(purposes.items())), policy

    def regions(
        self, node: CommentedMap, purposes: dict[str, m.Purpose]
    ) -> dict[str, m.RegionRule]:
        declared = self.mapping(
            node.get("regions"), "consent.regions", self.value_pos(node, "regions")
        )
        out: dict[str, m.RegionRule] = {}
        seen: dict[str, str] = {}
        for name, spec in (declared or {}).items():
            where = f"consent.regions.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                self.error(
                    self.key_pos(declared, name), f"{where}: region names are lower_snake_case"
                )
                continue
            rnode = self.mapping(
                spec,
                where,
                self.value_pos(declared, name),
                (
                    "countries",
                    "subdivisions",
                    "defaults",
                    "may_grant",
                    "gpc",
                    "meta_ldu",
                    "description",
                ),
            )
            if rnode is None:
                continue
            codes: dict[str, tuple[str, ...]] = {}
            for key, pattern, example in (
                ("countries", COUNTRY, "DE"),
                ("subdivisions", SUBDIVISION, "US-CA"),
            ):
                value = rnode.get(key) or CommentedSeq()
                if not isinstance(value, CommentedSeq):
                    self.error(self.value_pos(rnode, key), f"{where}.{key} must be a list")
                    value = CommentedSeq()
                found: list[str] = []
                for i, code in enumerate(value):
                    if not isinstance(code, str) or not pattern.match(code):
                        self.error(
                            self.value_pos(value, i),
                            f"{where}.{key}[{i}]: {code!r} is not an ISO 3166 code like {example}",
                        )
                    elif code in seen:
                        self.error(
                            self.value_pos(value, i),
                            f"{where}.{key}[{i}]: {code} is already in region {seen[code]}",
                        )
                    else:
                        seen[code] = name
                        found.append(code)
                codes[key] = tuple(found)
            defaults: dict[str, bool] = {}
            dnode = self.mapping(
                rnode.get("defaults"),
                f"{where}.defaults",
                self.value_pos(rnode, "defaults"),
                tuple(purposes),
            )
            for purpose in dnode if dnode is not None else {}:
                if dnode is not None and purpose in purposes:
                    state = self.choice(
                        dnode, purpose, f"{where}.defaults", ("granted", "denied"), "denied"
                    )
                    defaults[str(purpose)] = state == "granted"
            may_grant = self.name_list(rnode, "may_grant", where, m.CONSENT_SOURCES, "source")
            gpc = self.choice(rnode, "gpc", where, ("deny_ads", "ignore"), "deny_ads")
            out[name] = m.RegionRule(
                name=name,
                countries=codes["countries"],
                subdivisions=codes["subdivisions"],
                defaults=defaults,
                may_grant=may_grant if "may_grant" in rnode else ("event",),
                gpc_denies_ads=gpc == "deny_ads",
                meta_ldu=self.boolean(rnode, "meta_ldu", where, False),
                description=str(rnode.get("description") or ""),
            )
        return out

    def user_data(self, root: CommentedMap) -> tuple[str, ...]:
        node = self.mapping(
            root.get("user_data"), "user_data", self.value_pos(root, "user_data"), ("fields",)
        )
        if node is None:
            return ()
        return self.name_list(node, "fields", "user_data", m.PII_FIELDS, "PII field")

    def items(self, root: CommentedMap) -> tuple[dict[str, m.Param], int]:
        node = self.mapping(
            root.get("items"), "items", self.value_pos(root, "items"), ("fields", "max_items")
        )
        if node is None:
            return {}, 200
        max_items = self.integer(node, "max_items", "items", 200, 1, 1000) or 200
        fields: dict[str, m.Param] = {}
        declared = self.mapping(node.get("fields"), "items.fields", self.value_pos(node, "fields"))
        for fname, spec in (declared or {}).items():
            where = f"items.fields.{fname}"
            if fname in m.ITEM_FIELDS:
                self.error(
                    self.key_pos(declared, fname),
                    f"{where}: {fname!r} is a canonical item field and cannot be redefined",
                )
                continue
            param = self.param(declared, fname, spec, where, allow_items=False)
            if param is not None:
                fields[fname] = param
        return fields, max_items

    def events(self, root: CommentedMap, item_fields: dict[str, m.Param]) -> dict[str, m.Event]:
        node = self.mapping(root.get("events"), "events", self.value_pos(root, "events"))
        events: dict[str, m.Event] = {}
        if node is None:
            return events
        if not node:
            self.error(self.value_pos(root, "events"), "events: the plan defines no events")
        for name, spec in node.items():
            where = f"events.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                self.error(
                    self.key_pos(node, name),
                    f"{where}: event names are lower_snake_case, 1-40 characters",
                    "GA4 limits event names to 40 characters",
                )
                continue
            spec_node = self.mapping(
                spec, where, self.value_pos(node, name), ("description", "params")
            )
            if spec_node is None:
                continue
            params_node = self.mapping(
                spec_node.get("params"), f"{where}.params", self.value_pos(spec_node, "params")
            )
            params: dict[str, m.Param] = {}
            for pname, pspec in (params_node or {}).items():
                pwhere = f"{where}.params.{pname}"
                if not isinstance(pname, str) or not NAME.match(pname):
                    self.error(
                        self.key_pos(params_node, pname),
                        f"{pwhere}: parameter names are lower_snake_case, 1-40 characters",
                    )
                    continue
                param = self.param(params_node, pname, pspec, pwhere, allow_items=True)
                if param is not None:
                    params[pname] = param
            if name in ("purchase", "refund"):
                tx = params.get("transaction_id")
                if tx is None or not tx.required:
                    self.error(
                        self.pos_of(params_node, self.value_pos(node, name))
                        if params_node is not None
                        else self.value_pos(node, name),
                        f"{where}.params.transaction_id must be defined and required",
                        "ad platforms deduplicate purchases and refunds by transaction id",
                    )
            for canon, ptype in (("value", "number"), ("currency", "currency"), ("items", "items")):
                if canon in params and params[canon].type != ptype:
                    self.error(
                        self.value_pos(params_node, canon),
                        f"{where}.params.{canon} must have type {ptype!r}, "
                        f"not {params[canon].type!r}",
                    )
            events[name] = m.Event(name, params, str(spec_node.get("description") or ""))
        return events

    def param(
        self, parent: CommentedMap | None, name: str, spec: Any, where: str, allow_items: bool
    ) -> m.Param | None:
        node = self.mapping(spec, where, self.value_pos(parent, name), PARAM_KEYS, ("type",))
        if node is None or "type" not in node:
            return None
        types = m.PARAM_TYPES if allow_items else tuple(t for t in m.PARAM_TYPES if t != "items")
        ptype = self.choice(node, "type", where, types, "")
        if not ptype:
            return None
        required = self.boolean(node, "required", where, False)
        enum: tuple[Any, ...] = ()
        if "enum" in node:
            values = node["enum"]
            if not isinstance(values, CommentedSeq) or not values:
                self.error(self.value_pos(node, "enum"), f"{where}.enum must be a non-empty list")
            else:
                for i, value in enumerate(values):
                    if not _fits(ptype, value):
                        self.error(
                            self.value_pos(values, i),
                            f"{where}.enum[{i}]: {value!r} is not a valid {ptype}",
                        )
                if len(set(map(repr, values))) != len(values):
                    self.error(self.value_pos(node, "enum"), f"{where}.enum has duplicate values")
                enum = tuple(_plain(v) for v in values)
        bounds: list[float | None] = []
        for key in ("min", "max"):
            value = node.get(key)
            if key in node and (isinstance(value, bool) or not isinstance(value, int | float)):
                self.error(self.value_pos(node, key), f"{where}.{key} must be a number")
                value = None
            elif key in node and ptype not in ("number", "integer", "items", "timestamp"):
                self.error(
                    self.key_pos(node, key),
                    f"{where}.{key} applies to number, integer, timestamp or items, not {ptype}",
                )
                value = None
            elif isinstance(value, float) and not math.isfinite(value):
                self.error(self.value_pos(node, key), f"{where}.{key} must be finite")
                value = None
            bounds.append(_plain(value) if value is not None else None)
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            self.error(self.value_pos(node, "min"), f"{where}: min {bounds[0]} > max {bounds[1]}")
        pattern = ""
        if "pattern" in node:
            pattern = self.string(node, "pattern", where) or ""
            if ptype != "string":
                self.error(self.key_pos(node, "pattern"), f"{where}.pattern applies to strings")
            else:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self.error(
                        self.value_pos(node, "pattern"),
                        f"{where}.pattern is not a valid regular expression: {exc}",
                    )
        max_length = self.integer(node, "max_length", where, None, 1, 10000)
        if max_length is not None and ptype != "string":
            self.error(self.key_pos(node, "max_length"), f"{where}.max_length applies to strings")
        return m.Param(
            name=name,
            type=ptype,
            required=required,
            description=str(node.get("description") or ""),
            enum=enum,
            minimum=bounds[0],
            maximum=bounds[1],
            pattern=pattern,
            max_length=max_length,
        )

    def destinations(
        self,
        root: CommentedMap,
        events: dict[str, m.Event],
        purposes: dict[str, m.Purpose],
        user_data: tuple[str, ...],
    ) -> dict[str, m.Destination]:
        node = self.mapping(
            root.get("destinations"), "destinations", self.value_pos(root, "destinations")
        )
        out: dict[str, m.Destination] = {}
        for name, spec in (node or {}).items():
            where = f"destinations.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                self.error(
                    self.key_pos(node, name),
                    f"{where}: destination names are lower_snake_case identifiers",
                )
                continue
            dnode = self.mapping(
                spec, where, self.value_pos(node, name), DEST_KEYS, ("kind", "purposes", "events")
            )
            if dnode is None or "kind" not in dnode:
                continue
            kind = self.choice(dnode, "kind", where, m.DESTINATION_KINDS, "")
            if not kind:
                continue
            dest_purposes = self.name_list(dnode, "purposes", where, purposes, "purpose")
            if isinstance(dnode.get("purposes"), CommentedSeq) and not dnode["purposes"]:
                self.error(
                    self.value_pos(dnode, "purposes"),
                    f"{where}.purposes must name at least one purpose",
                    "every destination needs a legal basis; use 'functional' for strictly "
                    "necessary processing",
                )
            mapped = self.destination_events(dnode, where, events, kind)
            pii = self.name_list(dnode, "pii", where, m.PII_FIELDS, "PII field")
            for i, field in enumerate(pii):
                pos = self.value_pos(dnode["pii"], i)
                if field not in user_data:
                    self.error(
                        pos,
                        f"{where}.pii[{i}]: {field!r} is not collected by the plan",
                        "add it to user_data.fields or remove it here",
                    )
                elif field not in m.KIND_PII[kind]:
                    self.error(
                        pos,
                        f"{where}.pii[{i}]: a {kind} destination cannot receive {field!r}",
                        f"{kind} accepts: {', '.join(m.KIND_PII[kind])}",
                    )
            settings = self.settings(dnode, where, kind)
            credentials = self.credentials(dnode, where, kind)
            pixel_events = self.name_list(dnode, "pixel_events", where, mapped, "event")
            if pixel_events and kind != "meta_capi":
                self.error(
                    self.key_pos(dnode, "pixel_events"),
                    f"{where}.pixel_events: only a meta_capi destination has a browser pixel "
                    "to deduplicate with",
                )
                pixel_events = ()
            out[name] = m.Destination(
                name=name,
                kind=kind,
                purposes=dest_purposes,
                events=mapped,
                pii=pii,
                ip=self.choice(dnode, "ip", where, m.IP_POLICIES, "anonymized"),
                user_agent=self.boolean(dnode, "user_agent", where, False),
                settings=settings,
                credentials=credentials,
                retry_window_hours=self.integer(
                    dnode,
                    "retry_window_hours",
                    where,
                    m.DEFAULT_RETRY_WINDOW_HOURS[kind],
                    1,
                    24 * 30,
                )
                or m.DEFAULT_RETRY_WINDOW_HOURS[kind],
                max_attempts=self.integer(dnode, "max_attempts", where, 20, 1, 1000) or 20,
                max_rate_per_s=self.integer(dnode, "max_rate_per_s", where, None, 1, 100_000),
                rollout=self.integer(dnode, "rollout", where, 100, 0, 100) or 0
                if "rollout" in dnode
                else 100,
                mode=self.choice(dnode, "mode", where, m.DESTINATION_MODES, "live"),
                description=str(dnode.get("description") or ""),
                recipient=self.recipient(dnode, where),
                pixel_events=pixel_events,
            )
            if out[name].mode == "shadow" and kind in ("bigquery", "http"):
                self.error(
                    self.value_pos(dnode, "mode"),
                    f"{where}.mode: shadow mode needs a test surface, which {kind} lacks",
                    "shadow works for ga4 (validation endpoint) and meta_capi (test_event_code)",
                )
            if out[name].mode == "shadow" and kind == "meta_capi":
                if not settings.get("test_event_code"):
                    self.error(
                        self.value_pos(dnode, "mode"),
                        f"{where}.mode: shadow on meta_capi needs settings.test_event_code",
                    )
        if node is not None and not out and not any(p.level == "error" for p in self.problems):
            self.error(self.value_pos(root, "destinations"), "destinations: none defined")
        return out

    def destination_events(
        self, dnode: CommentedMap, where: str, events: dict[str, m.Event], kind: str
    ) -> dict[str, str]:
        raw = dnode.get("events")
        pos = self.value_pos(dnode, "events")
        mapped: dict[str, str] = {}
        if raw is None:
            return mapped
        if isinstance(raw, CommentedSeq):
            pairs = [(item, item, self.value_pos(raw, i)) for i, item in enumerate(raw)]
        elif isinstance(raw, CommentedMap):
            pairs = [(k, v, self.key_pos(raw, k)) for k, v in raw.items()]
        else:
            self.error(pos, f"{where}.events must be a list of event names or a mapping")
            return mapped
        if not pairs:
            self.error(pos, f"{where}.events must name at least one event")
        for event, target, epos in pairs:
            if event not in events:
                self.error(
                    epos,
                    f"{where}.events: unknown event {event!r}",
                    suggest(str(event), events)
                    or (f"events in the plan: {', '.join(events)}" if events else ""),
                )
                continue
            if not isinstance(target, str) or not target.strip() or len(target) > 100:
                self.error(
                    epos,
                    f"{where}.events.{event}: the destination's event name must be a "
                    "non-empty string of at most 100 characters",
                )
                continue
            if kind == "google_ads" and not re.match(r"^\d{1,20}$", str(target)):
                self.error(
                    epos,
                    f"{where}.events.{event}: {target!r} is not a conversion action id",
                    "Google Ads events map to the numeric id of a conversion action (Goals > "
                    "Conversions > the action's ctId); conversion labels are for the browser tag",
                )
                continue
            mapped[str(event)] = str(target)
        return mapped

    def settings(self, dnode: CommentedMap, where: str, kind: str) -> dict[str, Any]:
        spec = KIND_SETTINGS[kind]
        node = self.mapping(
            dnode.get("settings"),
            f"{where}.settings",
            self.value_pos(dnode, "settings"),
            tuple(spec),
            tuple(k for k, (req, _) in spec.items() if req),
        )
        out: dict[str, Any] = {}
        if node is None:
            return out
        for key, value in node.items():
            if key not in spec:
                continue
            rule = spec[key][1]
            text = (
                str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
            )
            ok = text is not None and (
                text in rule.split("|") if not rule.startswith("^") else re.match(rule, text)
            )
            if not ok:
                expected = rule if rule.startswith("^") else " or ".join(rule.split("|"))
                self.error(
                    self.value_pos(node, key),
                    f"{where}.settings.{key}: {value!r} does not match {expected}",
                )
                continue
            if looks_like_secret(str(value)) and key not in ("pixel_id", "conversion_id"):
                self.error(
                    self.value_pos(node, key),
                    f"{where}.settings.{key} looks like a secret; settings are not secret",
                    "put credentials under 'credentials' as environment variable names",
                )
            out[str(key)] = text
        if kind == "ga4":
            out.setdefault("endpoint", "eu")
        if kind == "meta_capi":
            out.setdefault("api_version", meta_versions.DEFAULT_VERSION)
            pos = (
                self.value_pos(node, "api_version")
                if "api_version" in node
                else self.key_pos(dnode, "settings")
            )
            self.meta_versions.append(
                (f"{where}.settings.api_version", pos, str(out["api_version"]))
            )
        if kind == "http":
            out.setdefault("hashing", "google")
        return dict(sorted(out.items()))

    def credentials(self, dnode: CommentedMap, where: str, kind: str) -> dict[str, m.SecretRef]:
        required, optional = KIND_CREDENTIALS[kind]
        node = self.mapping(
            dnode.get("credentials"),
            f"{where}.credentials",
            self.value_pos(dnode, "credentials"),
            required + optional,
            required,
        )
        out: dict[str, m.SecretRef] = {}
        for role in node or {}:
            if role in required + optional:
                ref = self.secret_ref(node, role, f"{where}.credentials")
                if ref is not None:
                    out[str(role)] = ref
        return out

    def sources(self, root: CommentedMap) -> dict[str, m.Source]:
        node = self.mapping(root.get("sources"), "sources", self.value_pos(root, "sources"))
        out: dict[str, m.Source] = {}
        for name, spec in (node or {}).items():
            where = f"sources.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                self.error(self.key_pos(node, name), f"{where}: source names are identifiers")
                continue
            snode = self.mapping(spec, where, self.value_pos(node, name))
            if snode is None:
                continue
            kind = str(snode.get("kind", name))
            if kind not in m.SOURCE_KINDS:
                pos = self.value_pos(snode, "kind") if "kind" in snode else self.key_pos(node, name)
                self.error(
                    pos,
                    f"{where}: unknown source kind {kind!r}",
                    suggest(kind, m.SOURCE_KINDS) or f"kinds: {', '.join(m.SOURCE_KINDS)}",
                )
                continue
            required, optional = SOURCE_SECRETS[kind]
            allowed = ("kind", *required, *optional, *SOURCE_SETTINGS[kind])
            self.mapping(snode, where, self.value_pos(node, name), allowed, required)
            secrets: dict[str, m.SecretRef] = {}
            for role in (*required, *optional):
                if role in snode:
                    ref = self.secret_ref(snode, role, where)
                    if ref is not None:
                        secrets[role] = ref
            settings = self.source_settings(snode, where, kind)
            out[name] = m.Source(name, kind, secrets, settings)
        kinds = [s.kind for s in out.values()]
        for kind in set(kinds):
            if kinds.count(kind) > 1:
                self.error(self.value_pos(root, "sources"), f"sources: more than one {kind} source")
        return out

    def source_settings(self, snode: CommentedMap, where: str, kind: str) -> dict[str, Any]:
        defaults = m.SOURCE_DEFAULTS[kind]
        out = copy.deepcopy(defaults)  # each plan gets its own lists
        for key, rule in SOURCE_SETTINGS[kind].items():
            if key not in snode:
                continue
            value = snode[key]
            pos = self.value_pos(snode, key)
            if rule == "int":
                checked = self.integer(snode, key, where, None, 1, 100_000_000)
                if checked is not None:
                    out[key] = checked
            elif rule == "rate":
                if not isinstance(value, str) or not RATE.match(value.strip()):
                    self.error(pos, f"{where}.{key}: {value!r} is not a rate like '600/minute'")
                else:
                    out[key] = value.strip()
            elif "|" in rule:
                out[key] = self.choice(snode, key, where, tuple(rule.split("|")), defaults[key])
            else:
                if not isinstance(value, CommentedSeq) or not all(
                    isinstance(v, str) for v in value
                ):
                    self.error(pos, f"{where}.{key} must be a list of strings")
                    continue
                items = [str(v) for v in value]
                if key == "origins":
                    for i, origin in enumerate(items):
                        if not re.match(r"^https?://[A-Za-z0-9.\-]+(:\d+)?$", origin):
                            self.error(
                                self.value_pos(value, i),
                                f"{where}.origins[{i}]: {origin!r} is not an origin "
                                "(scheme://host[:port], no path)",
                            )
                if key == "purchase_topics":
                    for i, topic in enumerate(items):
                        if topic not in SHOPIFY_TOPICS:
                            self.error(
                                self.value_pos(value, i),
                                f"{where}.purchase_topics[{i}]: {topic!r} is not one of "
                                f"{', '.join(SHOPIFY_TOPICS)}",
                            )
                out[key] = items
        return out

    def delivery(self, root: CommentedMap) -> m.Delivery:
        node = self.mapping(
            root.get("delivery"),
            "delivery",
            self.value_pos(root, "delivery"),
            ("client_path", "keys", "batch_size"),
        )
        if node is None:
            return m.Delivery()
        path = self.string(node, "client_path", "delivery", "/s2s/events") or "/s2s/events"
        if not HTTP_PATH.match(path):
            self.error(
                self.value_pos(node, "client_path"),
                f"delivery.client_path: {path!r} must be an absolute URL path like /s2s/events",
            )
        keys = self.secret_ref(node, "keys", "delivery") if "keys" in node else None
        batch = self.integer(node, "batch_size", "delivery", 20, 1, 100) or 20
        return m.Delivery(client_path=path, keys=keys, batch_size=batch)

    def privacy(
        self, root: CommentedMap, region: str, destinations: dict[str, m.Destination]
    ) -> m.PrivacyPolicy:
        node = self.mapping(
            root.get("privacy"),
            "privacy",
            self.value_pos(root, "privacy"),
            (
                "url_params",
                "residency",
                "residency_exceptions",
                "firestore_location",
                "controller",
                "transfer_safeguard",
                "contexts_retention_days",
            ),
        )
        if node is None:
            return m.PrivacyPolicy()
        lists: dict[str, tuple[str, ...]] = {"deny": (), "keep": ()}
        params = self.mapping(
            node.get("url_params"),
            "privacy.url_params",
            self.value_pos(node, "url_params"),
            ("deny", "keep"),
        )
        for key in lists:
            if params is None or key not in params:
                continue
            value = params[key]
            where = f"privacy.url_params.{key}"
            if not isinstance(value, CommentedSeq):
                self.error(self.value_pos(params, key), f"{where} must be a list of names")
                continue
            names: list[str] = []
            for i, item in enumerate(value):
                if not isinstance(item, str) or not URL_PARAM.match(item):
                    self.error(
                        self.value_pos(value, i),
                        f"{where}[{i}]: {item!r} is not a lower-case parameter name "
                        "(letters, digits, _ and -)",
                    )
                elif item not in names:
                    names.append(item)
            lists[key] = tuple(names)
        residency = self.choice(node, "residency", "privacy", m.RESIDENCIES, "none")
        firestore = self.string(node, "firestore_location", "privacy", "") or ""
        exceptions = self.residency_exceptions(node)
        controller: dict[str, str] = {}
        cnode = self.mapping(
            node.get("controller"),
            "privacy.controller",
            self.value_pos(node, "controller"),
            CONTROLLER_KEYS,
            ("name", "contact") if "controller" in node else (),
        )
        for key in CONTROLLER_KEYS:
            if cnode is not None and key in cnode:
                controller[key] = self.string(cnode, key, "privacy.controller") or ""
        safeguard = self.string(node, "transfer_safeguard", "privacy", "") or ""
        contexts_days = self.integer(node, "contexts_retention_days", "privacy", 30, 1, 30) or 30
        policy = m.PrivacyPolicy(
            url_deny_params=lists["deny"],
            url_keep_params=lists["keep"],
            residency=residency,
            residency_exceptions=exceptions,
            firestore_location=firestore,
            controller=controller,
            transfer_safeguard=safeguard,
            contexts_retention_days=contexts_days,
        )
        if residency == "eu":
            self.check_residency(root, node, policy, region, destinations)
        return policy

    def recipient(self, dnode: CommentedMap, where: str) -> m.Recipient:
        """Who receives a destination's data, for the records of processing."""
        node = self.mapping(
            dnode.get("recipient"),
            f"{where}.recipient",
            self.value_pos(dnode, "recipient"),
            RECIPIENT_KEYS,
        )
        if node is None:
            return m.Recipient()
        values = {k: self.string(node, k, f"{where}.recipient") or "" for k in RECIPIENT_KEYS}
        return m.Recipient(**values)

    def residency_exceptions(self, node: CommentedMap) -> tuple[m.ResidencyException, ...]:
        raw = node.get("residency_exceptions")
        if raw is None:
            return ()
        if not isinstance(raw, CommentedSeq):
            self.error(
                self.value_pos(node, "residency_exceptions"),
                "privacy.residency_exceptions must be a list of {what, location, reason}",
            )
            return ()
        out: list[m.ResidencyException] = []
        for i, item in enumerate(raw):
            where = f"privacy.residency_exceptions[{i}]"
            entry = self.mapping(
                item,
                where,
                self.value_pos(raw, i),
                ("what", "location", "reason"),
                ("what", "location", "reason"),
            )
            if entry is None:
                continue
            what = self.string(entry, "what", where) or ""
            location = self.string(entry, "location", where) or ""
            reason = self.string(entry, "reason", where) or ""
            if what and location and reason:
                out.append(m.ResidencyException(what, location, reason))
        return tuple(out)

    def check_residency(
        self,
        root: CommentedMap,
        node: CommentedMap,
        policy: m.PrivacyPolicy,
        region: str,
        destinations: dict[str, m.Destination],
    ) -> None:
        """With residency `eu`, every data location must be in the EU or be an exception."""
        accepted = {(e.what, e.location) for e in policy.residency_exceptions}
        checks: list[tuple[str, str, Pos]] = []
        if region:
            checks.append(("region", region, self.value_pos(root, "region")))
        firestore = policy.firestore_location or region
        if policy.firestore_location:
            checks.append(("firestore", firestore, self.value_pos(node, "firestore_location")))
        for dest in destinations.values():
            if dest.kind == "bigquery":
                location = str(dest.settings.get("location") or region)
                checks.append((f"destinations.{dest.name}", location, self._dest_pos(root, dest)))
        for what, location, pos in checks:
            if location and not is_eu_location(location) and (what, location) not in accepted:
                self.error(
                    pos,
                    f"privacy.residency is 'eu' but {what} is in {location!r}, outside the EU",
                    "use an EU location (europe-west1, europe-west3, EU, ...) or add "
                    f"privacy.residency_exceptions: [{{what: {what}, location: {location}, "
                    "reason: ...}] saying why",
                )

    def _dest_pos(self, root: CommentedMap, dest: m.Destination) -> Pos:
        node = root.get("destinations", {}).get(dest.name)
        settings = node.get("settings") if isinstance(node, CommentedMap) else None
        if isinstance(settings, CommentedMap) and "location" in settings:
            return self.value_pos(settings, "location")
        return self.value_pos(root.get("destinations"), dest.name)


# Google Cloud locations inside the EU/EEA: europe-* regions except London and Zurich (not EU),
# and the BigQuery multi-region "EU". europe-north1 (Finland), -north2 (Sweden), -central2
# (Poland), -southwest1 (Spain), -west1/3/4/8/9/10/12 are all EU member states.
_NON_EU_EUROPE = ("europe-west2", "europe-west6")


def is_eu_location(location: str) -> bool:
    if location == "EU":
        return True
    return location.startswith("europe-") and location not in _NON_EU_EUROPE


def looks_like_secret(value: str) -> bool:
    if value.startswith(SECRET_PREFIXES):
        return True
    if ENV_NAME.match(value) or not TOKENLIKE.match(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    return has_digit and (has_lower or has_upper) and len(set(value)) >= 10


def _env_suggestion(path: str) -> str:
    parts = [p for p in path.split(".") if p not in ("sources", "destinations", "credentials")]
    return "_".join(parts).upper().replace("-", "_")


def _kind(node: Any) -> str:
    if isinstance(node, CommentedSeq):
        return "a list"
    if isinstance(node, str):
        return f"the string {node!r}"
    if node is None:
        return "nothing"
    return f"a {type(node).__name__}"


def _plain(value: Any) -> Any:
    """ruamel's round-trip scalars are subclasses; the model holds plain Python values."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _fits(ptype: str, value: Any) -> bool:
    if ptype in ("string", "currency"):
        return isinstance(value, str)
    if ptype == "boolean":
        return isinstance(value, bool)
    if ptype in ("integer", "timestamp"):
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False
