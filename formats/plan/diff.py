"""`sgtm plan diff`: what changed between two plans, and whether it breaks anyone.

A change is *breaking* when data that was valid may now be rejected (schema narrowed), when
something consumers rely on disappears (event, param, item field, destination, a destination's
event), or when privacy is loosened (a destination needs fewer purposes, gets more PII, the full
IP, the user agent; the missing-consent policy becomes less strict). Everything else is
compatible. A breaking change needs a major version bump (SchemaVer's MODEL change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from formats.plan import model as m

BREAKING = "breaking"
COMPATIBLE = "compatible"

# How widely a type accepts values: a move to a type not in the old one's widening set narrows.
WIDENS_TO = {"integer": {"number"}, "currency": {"string"}}
IP_ORDER = {"none": 0, "anonymized": 1, "full": 2}


@dataclass(frozen=True)
class Change:
    kind: str  # BREAKING or COMPATIBLE
    category: str  # e.g. "event_removed", "param_type_narrowed"
    path: str  # dotted path in the plan
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.category:<28} {self.path}: {self.detail}"


@dataclass
class DiffReport:
    old_version: m.SemVer
    new_version: m.SemVer
    changes: list[Change] = field(default_factory=list)
    # Changes a DPO must see (where data lives, how long, who receives it, for what), listed on
    # their own whatever their compatibility: `plan diff` exits 1 on them unless accepted.
    compliance: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.kind == BREAKING]

    def text(self) -> str:
        lines = [f"plan {self.old_version} -> {self.new_version}: {len(self.changes)} change(s)"]
        lines += [f"  {c}" for c in self.changes]
        if self.compliance:
            lines.append(
                f"compliance changes ({len(self.compliance)}; records of processing and data "
                "protection review needed, accept with --accept-compliance-change):"
            )
            lines += [f"  {c.category:<28} {c.path}: {c.detail}" for c in self.compliance]
        lines += [f"error: {e}" for e in self.errors]
        lines += [f"warning: {w}" for w in self.warnings]
        verdict = "BREAKING" if self.breaking else "compatible"
        lines.append(
            f"{len(self.breaking)} breaking, {len(self.changes) - len(self.breaking)} "
            f"compatible: {verdict}"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "old_version": str(self.old_version),
            "new_version": str(self.new_version),
            "breaking": bool(self.breaking),
            "changes": [c.__dict__ for c in self.changes],
            "compliance": [c.__dict__ for c in self.compliance],
            "errors": self.errors,
            "warnings": self.warnings,
        }


def diff_plans(old: m.Plan, new: m.Plan) -> DiffReport:
    report = DiffReport(old.version, new.version)
    out = report.changes

    def add(kind: str, category: str, path: str, detail: str) -> None:
        out.append(Change(kind, category, path, detail))

    # Events and their params.
    for name, event in old.events.items():
        if name not in new.events:
            add(BREAKING, "event_removed", f"events.{name}", "event removed")
            continue
        _params(add, f"events.{name}.params", event.params, new.events[name].params)
    for name in new.events:
        if name not in old.events:
            add(COMPATIBLE, "event_added", f"events.{name}", "event added")
    _params(add, "items.fields", old.item_fields, new.item_fields)
    if new.max_items < old.max_items:
        add(BREAKING, "limit_narrowed", "items.max_items", f"{old.max_items} -> {new.max_items}")
    elif new.max_items > old.max_items:
        add(COMPATIBLE, "limit_widened", "items.max_items", f"{old.max_items} -> {new.max_items}")

    # PII the plan collects at all.
    for fld in old.user_data:
        if fld not in new.user_data:
            add(BREAKING, "pii_field_removed", "user_data.fields", f"{fld} no longer collected")
    for fld in new.user_data:
        if fld not in old.user_data:
            add(COMPATIBLE, "pii_field_added", "user_data.fields", f"{fld} now collected")

    # Consent policy.
    for name, purpose in old.purposes.items():
        if name not in new.purposes:
            add(BREAKING, "purpose_removed", f"consent.purposes.{name}", "purpose removed")
        elif purpose.basis == "consent" and new.purposes[name].basis != "consent":
            add(
                BREAKING,
                "privacy_loosened",
                f"consent.purposes.{name}.basis",
                f"{purpose.basis} -> {new.purposes[name].basis}",
            )
        elif purpose.basis != new.purposes[name].basis:
            add(
                COMPATIBLE,
                "privacy_tightened",
                f"consent.purposes.{name}.basis",
                f"{purpose.basis} -> {new.purposes[name].basis}",
            )
    for name in new.purposes:
        if name not in old.purposes:
            add(COMPATIBLE, "purpose_added", f"consent.purposes.{name}", "purpose added")
    if old.consent.missing != new.consent.missing:
        loosened = old.consent.missing == "strict"
        add(
            BREAKING if loosened else COMPATIBLE,
            "privacy_loosened" if loosened else "privacy_tightened",
            "consent.missing",
            f"{old.consent.missing} -> {new.consent.missing}",
        )
    if old.consent.analytics_without_consent != new.consent.analytics_without_consent:
        loosened = new.consent.analytics_without_consent == "anonymize"
        add(
            BREAKING if loosened else COMPATIBLE,
            "privacy_loosened" if loosened else "privacy_tightened",
            "consent.analytics_without_consent",
            f"{old.consent.analytics_without_consent} -> {new.consent.analytics_without_consent}",
        )

    # Destinations.
    for name, dest in old.destinations.items():
        path = f"destinations.{name}"
        if name not in new.destinations:
            add(BREAKING, "destination_removed", path, "destination removed")
            continue
        _destination(add, path, dest, new.destinations[name])
    for name in new.destinations:
        if name not in old.destinations:
            add(COMPATIBLE, "destination_added", f"destinations.{name}", "destination added")

    # Sources and delivery: operational, never breaking for data, but listed.
    for name in sorted(set(old.sources) | set(new.sources)):
        if name not in new.sources:
            add(BREAKING, "source_removed", f"sources.{name}", "source removed")
        elif name not in old.sources:
            add(COMPATIBLE, "source_added", f"sources.{name}", "source added")
        elif old.sources[name] != new.sources[name]:
            add(COMPATIBLE, "source_changed", f"sources.{name}", "settings or secrets changed")
    if old.retention_days != new.retention_days:
        add(
            COMPATIBLE,
            "retention_changed",
            "retention_days",
            f"{old.retention_days} -> {new.retention_days}",
        )

    report.compliance = compliance_changes(old, new)
    _check_version(report, old, new)
    return report


def renames(old: dict[str, m.Param], new: dict[str, m.Param]) -> dict[str, str]:
    """Old name -> new name for params that look renamed: one removed and one added at the same
    position with the same type. Still breaking (senders use the old name), but reported as one
    change naming both, instead of a removal plus an unrelated addition."""
    old_names, new_names = list(old), list(new)
    found: dict[str, str] = {}
    for index, name in enumerate(old_names):
        if name in new or index >= len(new_names):
            continue
        candidate = new_names[index]
        if candidate not in old and new[candidate].type == old[name].type:
            found[name] = candidate
    return found


def _params(add: Any, path: str, old: dict[str, m.Param], new: dict[str, m.Param]) -> None:
    renamed = renames(old, new)
    for name, before in old.items():
        ppath = f"{path}.{name}"
        after = new.get(name)
        if name in renamed:
            after = new[renamed[name]]
            add(
                BREAKING,
                "param_renamed",
                ppath,
                f"renamed to {renamed[name]!r} ({before.type}, same position); senders of "
                f"{name!r} are rejected",
            )
            ppath = f"{path}.{renamed[name]}"
        if after is None:
            add(BREAKING, "param_removed", ppath, "parameter removed")
            continue
        if before.type != after.type:
            if after.type in WIDENS_TO.get(before.type, set()):
                add(COMPATIBLE, "param_type_widened", ppath, f"{before.type} -> {after.type}")
            else:
                add(BREAKING, "param_type_narrowed", ppath, f"{before.type} -> {after.type}")
        if not before.required and after.required:
            add(BREAKING, "param_made_required", ppath, "optional -> required")
        elif before.required and not after.required:
            add(COMPATIBLE, "param_made_optional", ppath, "required -> optional")
        _enum(add, ppath, before, after)
        _bounds(add, ppath, before, after)
    for name, after in new.items():
        if name not in old and name not in renamed.values():
            if after.required:
                add(BREAKING, "required_param_added", f"{path}.{name}", "new required parameter")
            else:
                add(COMPATIBLE, "param_added", f"{path}.{name}", "new optional parameter")


def _enum(add: Any, path: str, before: m.Param, after: m.Param) -> None:
    if not before.enum and after.enum:
        add(BREAKING, "enum_added", f"{path}.enum", f"now restricted to {list(after.enum)}")
    elif before.enum and not after.enum:
        add(COMPATIBLE, "enum_removed", f"{path}.enum", "no longer restricted")
    elif before.enum:
        removed = [v for v in before.enum if v not in after.enum]
        added = [v for v in after.enum if v not in before.enum]
        if removed:
            add(BREAKING, "enum_value_removed", f"{path}.enum", f"removed {removed}")
        if added:
            add(COMPATIBLE, "enum_value_added", f"{path}.enum", f"added {added}")


def _bounds(add: Any, path: str, before: m.Param, after: m.Param) -> None:
    checks = (
        ("min", before.minimum, after.minimum, lambda b, a: a > b),
        ("max", before.maximum, after.maximum, lambda b, a: a < b),
        ("max_length", before.max_length, after.max_length, lambda b, a: a < b),
    )
    for key, b, a, narrows in checks:
        if b == a:
            continue
        if b is None:  # a new bound always narrows
            add(BREAKING, "constraint_added", f"{path}.{key}", f"now {a}")
        elif a is None:
            add(COMPATIBLE, "constraint_removed", f"{path}.{key}", f"was {b}")
        elif narrows(b, a):
            add(BREAKING, "constraint_narrowed", f"{path}.{key}", f"{b} -> {a}")
        else:
            add(COMPATIBLE, "constraint_widened", f"{path}.{key}", f"{b} -> {a}")
    if before.pattern != after.pattern:
        if after.pattern:
            add(
                BREAKING,
                "pattern_changed",
                f"{path}.pattern",
                f"{before.pattern or '(none)'} -> {after.pattern}",
            )
        else:
            add(COMPATIBLE, "constraint_removed", f"{path}.pattern", f"was {before.pattern}")


def _destination(add: Any, path: str, old: m.Destination, new: m.Destination) -> None:
    if old.kind != new.kind:
        add(BREAKING, "destination_kind_changed", f"{path}.kind", f"{old.kind} -> {new.kind}")
    dropped = [p for p in old.purposes if p not in new.purposes]
    gained = [p for p in new.purposes if p not in old.purposes]
    if dropped:
        add(BREAKING, "privacy_loosened", f"{path}.purposes", f"no longer requires {dropped}")
    if gained:
        add(COMPATIBLE, "privacy_tightened", f"{path}.purposes", f"now also requires {gained}")
    for event, target in old.events.items():
        if event not in new.events:
            add(BREAKING, "destination_event_removed", f"{path}.events.{event}", "no longer sent")
        elif new.events[event] != target:
            add(
                BREAKING,
                "destination_event_renamed",
                f"{path}.events.{event}",
                f"{target} -> {new.events[event]}",
            )
    for event in new.events:
        if event not in old.events:
            add(COMPATIBLE, "destination_event_added", f"{path}.events.{event}", "now sent")
    more_pii = [f for f in new.pii if f not in old.pii]
    less_pii = [f for f in old.pii if f not in new.pii]
    if more_pii:
        add(BREAKING, "privacy_loosened", f"{path}.pii", f"now receives {more_pii}")
    if less_pii:
        add(COMPATIBLE, "privacy_tightened", f"{path}.pii", f"no longer receives {less_pii}")
    if IP_ORDER[new.ip] > IP_ORDER[old.ip]:
        add(BREAKING, "privacy_loosened", f"{path}.ip", f"{old.ip} -> {new.ip}")
    elif IP_ORDER[new.ip] < IP_ORDER[old.ip]:
        add(COMPATIBLE, "privacy_tightened", f"{path}.ip", f"{old.ip} -> {new.ip}")
    if new.user_agent and not old.user_agent:
        add(BREAKING, "privacy_loosened", f"{path}.user_agent", "now receives the user agent")
    elif old.user_agent and not new.user_agent:
        add(COMPATIBLE, "privacy_tightened", f"{path}.user_agent", "no longer receives it")
    for attr in (
        "settings",
        "credentials",
        "retry_window_hours",
        "max_attempts",
        "rollout",
        "mode",
        "pixel_events",
    ):
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            detail = "changed" if attr in ("settings", "credentials") else f"{before} -> {after}"
            add(COMPATIBLE, f"destination_{attr}_changed", f"{path}.{attr}", detail)


COMPLIANCE = "compliance"


def compliance_changes(old: m.Plan, new: m.Plan) -> list[Change]:
    """Where data is kept, for how long, in which currency it is reported, who receives it and
    for which purposes: each change here alters the records of processing (`sgtm plan ropa`)."""
    out: list[Change] = []

    def add(category: str, path: str, before: Any, after: Any) -> None:
        if before != after:
            out.append(Change(COMPLIANCE, category, path, f"{before} -> {after}"))

    add("region_changed", "region", old.region, new.region)
    add("residency_changed", "privacy.residency", old.privacy.residency, new.privacy.residency)
    add(
        "residency_exceptions_changed",
        "privacy.residency_exceptions",
        [(e.what, e.location) for e in old.privacy.residency_exceptions],
        [(e.what, e.location) for e in new.privacy.residency_exceptions],
    )
    add(
        "firestore_location_changed",
        "privacy.firestore_location",
        old.privacy.firestore_location or "(the region)",
        new.privacy.firestore_location or "(the region)",
    )
    add("retention_changed", "retention_days", old.retention_days, new.retention_days)
    add("currency_changed", "currency", old.currency, new.currency)
    add(
        "regions_changed",
        "consent.regions",
        _regions(old),
        _regions(new),
    )
    add(
        "default_region_changed",
        "consent.default_region",
        old.consent.default_region,
        new.consent.default_region,
    )
    for name in sorted(set(old.destinations) | set(new.destinations)):
        path = f"destinations.{name}"
        before, after = old.destinations.get(name), new.destinations.get(name)
        if before is None or after is None:
            add(
                "recipient_added" if before is None else "recipient_removed",
                path,
                _vendor(before) if before else "(none)",
                _vendor(after) if after else "(none)",
            )
            continue
        add("vendor_changed", f"{path}.kind", _vendor(before), _vendor(after))
        add("purposes_changed", f"{path}.purposes", list(before.purposes), list(after.purposes))
        add(
            "location_changed",
            f"{path}.settings.location",
            before.settings.get("location") or "(the region)",
            after.settings.get("location") or "(the region)",
        )
    return out


def _vendor(dest: m.Destination) -> str:
    """The recipient as a DPO sees it: the kind, and for webhooks the host data goes to."""
    if dest.kind == "http":
        url = str(dest.settings.get("url", ""))
        return f"http {url.split('/')[2] if url.count('/') >= 2 else url}"
    return dest.kind


def _regions(plan: m.Plan) -> dict[str, Any]:
    return {
        name: {
            "countries": list(r.countries),
            "subdivisions": list(r.subdivisions),
            "defaults": r.defaults,
            "may_grant": list(r.may_grant),
            "gpc_denies_ads": r.gpc_denies_ads,
            "meta_ldu": r.meta_ldu,
        }
        for name, r in plan.consent.regions.items()
    }


def _check_version(report: DiffReport, old: m.Plan, new: m.Plan) -> None:
    o, n = old.version, new.version
    order_old, order_new = (o.major, o.minor, o.patch), (n.major, n.minor, n.patch)
    if order_new < order_old:
        report.errors.append(f"version went backwards: {o} -> {n}")
    if report.breaking and n.major <= o.major:
        cats = sorted({c.category for c in report.breaking})
        report.errors.append(
            f"breaking change(s) ({', '.join(cats)}) without a major version bump: "
            f"{o} -> {n}; release it as {o.major + 1}.0.0"
        )
    if report.changes and order_new == order_old and not report.errors:
        report.warnings.append(f"the plan changed but its version is still {n}")
