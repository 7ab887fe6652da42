"""Rules for destinations: kind, purposes, events, PII, settings, credentials, retries,
rollout, mode and recipient; and the dated check of pinned platform versions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from formats.plan import meta_versions
from formats.plan import model as m
from formats.plan.kinds import DEST_KEYS, KIND_CREDENTIALS, KIND_SETTINGS
from formats.plan.reading import NAME, Pos, Reader, looks_like_secret, suggest

RECIPIENT_KEYS = ("vendor", "role", "location", "safeguard")


class DestinationRules(Reader):
    # (where, position, version) of every Meta destination's API version, for dated checks.
    meta_versions: list[tuple[str, Pos, str]]

    def check_versions(self, today: date) -> None:
        for where, pos, version in self.meta_versions:
            verdict = meta_versions.check_version(version, today)
            if verdict.level == "error":
                self.error(pos, f"{where}: {verdict.message}", verdict.suggestion)
            elif verdict.level == "warning":
                self.warn(pos, f"{where}: {verdict.message}", verdict.suggestion)

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
