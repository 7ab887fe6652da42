"""The plan's optional ``reconcile`` section: time zone, bands, SLAs, order pulls, GA4 property.

Kept apart from the loader's core so the section can grow (new pull kinds, new checks) without
touching the rest of the plan reader. Problems are reported through the loader's reader, with
the same FILE:LINE:COL positions as everything else.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from formats.plan import model as m

RECONCILE_KEYS = (
    "timezone",
    "events",
    "band",
    "latency_sla_minutes",
    "destinations",
    "pulls",
    "ga4_property",
    "ga4_credentials",
)
BAND_KEYS = ("target_pct", "tolerance_pct")
PULL_KINDS = ("shopify", "woocommerce", "stripe")
# Settings and credentials each order pull understands: name -> pattern (None: any string).
PULL_SETTINGS: dict[str, dict[str, tuple[bool, str | None]]] = {
    "shopify": {
        "shop": (True, r"^[a-z0-9][a-z0-9\-]*\.myshopify\.com$"),
        "api_version": (False, r"^\d{4}-(01|04|07|10)$"),
        "endpoint": (False, r"^https?://[^\s]+$"),  # stand-ins and proxies; default from shop
    },
    "woocommerce": {
        "url": (True, r"^https?://[^\s]+$"),
        "per_page": (False, None),
    },
    "stripe": {
        "endpoint": (False, r"^https?://[^\s]+$"),
    },
}
PULL_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "shopify": ("access_token",),
    "woocommerce": ("consumer_key", "consumer_secret"),
    "stripe": ("api_key",),
}
GA4_PROPERTY = re.compile(r"^\d{4,20}$")


def read_reconcile(
    reader: Any,
    root: Any,
    events: dict[str, m.Event],
    destinations: dict[str, m.Destination],
    sources: dict[str, m.Source],
) -> m.Reconcile:
    """Build ``Reconcile`` from ``root["reconcile"]``; defaults when the section is absent."""
    if "reconcile" not in root:
        return m.Reconcile()
    node = reader.mapping(
        root.get("reconcile"), "reconcile", reader.value_pos(root, "reconcile"), RECONCILE_KEYS
    )
    if node is None:
        return m.Reconcile()
    timezone = reader.string(node, "timezone", "reconcile", "UTC") or "UTC"
    if "timezone" in node and not _valid_zone(timezone):
        reader.error(
            reader.value_pos(node, "timezone"),
            f"reconcile.timezone: {timezone!r} is not an IANA time zone like 'Europe/Madrid'",
        )
        timezone = "UTC"
    names = ("purchase",)
    if "events" in node:
        names = reader.name_list(node, "events", "reconcile", tuple(events), "event") or names
    band = _band(reader, node, "reconcile") or m.Band()
    sla = reader.integer(node, "latency_sla_minutes", "reconcile", None, 1, 7 * 24 * 60)
    bands: dict[str, m.Band] = {}
    slas: dict[str, int] = {}
    per = reader.mapping(
        node.get("destinations"), "reconcile.destinations", reader.value_pos(node, "destinations")
    )
    for name, spec in (per or {}).items():
        where = f"reconcile.destinations.{name}"
        if name not in destinations:
            reader.error(
                reader.key_pos(per, name),
                f"{where}: the plan has no destination {name!r}",
                f"known destinations: {', '.join(destinations)}",
            )
            continue
        dnode = reader.mapping(
            spec, where, reader.value_pos(per, name), ("band", "latency_sla_minutes")
        )
        if dnode is None:
            continue
        own = _band(reader, dnode, where)
        if own is not None:
            bands[str(name)] = own
        minutes = reader.integer(dnode, "latency_sla_minutes", where, None, 1, 7 * 24 * 60)
        if minutes is not None:
            slas[str(name)] = minutes
    pulls = _pulls(reader, node, sources)
    prop = ""
    if "ga4_property" in node:
        raw = node["ga4_property"]
        prop = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if not GA4_PROPERTY.match(prop):
            reader.error(
                reader.value_pos(node, "ga4_property"),
                "reconcile.ga4_property must be the GA4 property's numeric id, e.g. '123456789'",
            )
            prop = ""
    creds = (
        reader.secret_ref(node, "ga4_credentials", "reconcile")
        if "ga4_credentials" in node
        else None
    )
    return m.Reconcile(
        timezone=timezone,
        events=names,
        band=band,
        latency_sla_minutes=sla,
        bands=bands,
        latency_slas=slas,
        pulls=pulls,
        ga4_property=prop,
        ga4_credentials=creds,
    )


def _valid_zone(name: str) -> bool:
    if name not in available_timezones() and name != "UTC":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _band(reader: Any, node: Any, where: str) -> m.Band | None:
    if "band" not in node:
        return None
    bnode = reader.mapping(
        node.get("band"), f"{where}.band", reader.value_pos(node, "band"), BAND_KEYS
    )
    if bnode is None:
        return None
    values = {}
    for key, default in (("target_pct", 3.0), ("tolerance_pct", 10.0)):
        raw = bnode.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 100:
            reader.error(
                reader.value_pos(bnode, key),
                f"{where}.band.{key} must be a percentage between 0 and 100",
            )
            raw = default
        values[key] = float(raw)
    if values["target_pct"] > values["tolerance_pct"]:
        reader.error(
            reader.pos_of(bnode),
            f"{where}.band: target_pct ({values['target_pct']:g}) is wider than tolerance_pct "
            f"({values['tolerance_pct']:g})",
        )
    return m.Band(values["target_pct"], values["tolerance_pct"])


def _pulls(reader: Any, node: Any, sources: dict[str, m.Source]) -> dict[str, m.OrderPull]:
    pnode = reader.mapping(node.get("pulls"), "reconcile.pulls", reader.value_pos(node, "pulls"))
    out: dict[str, m.OrderPull] = {}
    for name, spec in (pnode or {}).items():
        where = f"reconcile.pulls.{name}"
        source = sources.get(name)
        if source is None or source.kind not in PULL_KINDS:
            order_sources = [s.name for s in sources.values() if s.kind in PULL_KINDS]
            reader.error(
                reader.key_pos(pnode, name),
                f"{where}: {name!r} is not an order source of the plan",
                f"order sources: {', '.join(order_sources) or 'none'}",
            )
            continue
        kind = source.kind
        allowed = tuple(PULL_SETTINGS[kind]) + ("credentials",)
        snode = reader.mapping(spec, where, reader.value_pos(pnode, name), allowed)
        if snode is None:
            continue
        settings: dict[str, Any] = {}
        for key, (required, pattern) in PULL_SETTINGS[kind].items():
            if key not in snode:
                if required:
                    reader.error(reader.pos_of(snode), f"{where}: missing required key {key!r}")
                continue
            value = snode[key]
            if key == "per_page":
                ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100
                if not ok:
                    reader.error(reader.value_pos(snode, key), f"{where}.per_page must be 1..100")
                    continue
            elif not isinstance(value, str) or (pattern and not re.match(pattern, value)):
                reader.error(
                    reader.value_pos(snode, key),
                    f"{where}.{key}: {value!r} does not match {pattern}",
                )
                continue
            settings[key] = value
        cnode = reader.mapping(
            snode.get("credentials"),
            f"{where}.credentials",
            reader.value_pos(snode, "credentials"),
            PULL_CREDENTIALS[kind],
            PULL_CREDENTIALS[kind],
        )
        creds: dict[str, m.SecretRef] = {}
        for role in PULL_CREDENTIALS[kind]:
            if cnode is not None and role in cnode:
                ref = reader.secret_ref(cnode, role, f"{where}.credentials")
                if ref is not None:
                    creds[role] = ref
        out[str(name)] = m.OrderPull(str(name), kind, settings, creds)
    return out


def reconcile_to_dict(rec: m.Reconcile) -> dict[str, Any] | None:
    """The section as YAML data (for ``dump``); None when everything is the default."""
    if rec == m.Reconcile():
        return None
    out: dict[str, Any] = {"timezone": rec.timezone, "events": list(rec.events)}
    out["band"] = {"target_pct": rec.band.target_pct, "tolerance_pct": rec.band.tolerance_pct}
    if rec.latency_sla_minutes is not None:
        out["latency_sla_minutes"] = rec.latency_sla_minutes
    per: dict[str, Any] = {}
    for name in sorted(set(rec.bands) | set(rec.latency_slas)):
        entry: dict[str, Any] = {}
        if name in rec.bands:
            b = rec.bands[name]
            entry["band"] = {"target_pct": b.target_pct, "tolerance_pct": b.tolerance_pct}
        if name in rec.latency_slas:
            entry["latency_sla_minutes"] = rec.latency_slas[name]
        per[name] = entry
    if per:
        out["destinations"] = per
    if rec.pulls:
        out["pulls"] = {
            name: {**p.settings, "credentials": {r: ref.env for r, ref in p.credentials.items()}}
            for name, p in rec.pulls.items()
        }
    if rec.ga4_property:
        out["ga4_property"] = rec.ga4_property
    if rec.ga4_credentials is not None:
        out["ga4_credentials"] = rec.ga4_credentials.env
    return out
