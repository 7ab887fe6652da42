"""Read a tracking plan from YAML into the model, reporting every problem with its position.

The reader walks ruamel.yaml's round-trip nodes because they keep the line and column of every
key and value; each problem is reported as ``FILE:LINE:COL: message`` with a suggestion where one
exists. Nothing is built unless the whole plan is free of errors. Reading with positions lives in
``reading``, what each kind accepts in ``kinds``, and the rules per section in ``rules_*``; this
module reads the file and assembles the plan.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from formats.plan import model as m
from formats.plan.errors import PlanError, Problem
from formats.plan.reading import duplicate_keys, looks_like_secret, suggest
from formats.plan.reconcile_section import read_reconcile
from formats.plan.rules_consent import ConsentRules
from formats.plan.rules_destinations import DestinationRules
from formats.plan.rules_events import EventRules
from formats.plan.rules_privacy import PrivacyRules, is_eu_location
from formats.plan.rules_sources import SourceRules

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# Google Cloud region names; EU-ness is a deployment concern checked by Terraform.
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")

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
    reader = PlanReader(source)
    plan = reader.plan(doc)
    if today is not None:
        reader.check_versions(today)
    errors = [p for p in reader.problems if p.level == "error"]
    return (None if errors else plan), sorted(reader.problems)


class PlanReader(EventRules, ConsentRules, DestinationRules, SourceRules, PrivacyRules):
    """The whole plan: each section's rules come from its module; this assembles the model."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.meta_versions = []

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


__all__ = [
    "check_plan_text",
    "is_eu_location",
    "load_plan",
    "load_plan_text",
    "looks_like_secret",
    "suggest",
]
