"""Rules for privacy: URL parameters, data residency and its exceptions, the controller."""

from __future__ import annotations

import re

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from formats.plan import model as m
from formats.plan.reading import Pos, Reader

CONTROLLER_KEYS = ("name", "address", "contact", "dpo", "representative")
URL_PARAM = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class PrivacyRules(Reader):
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


_NON_EU_EUROPE = ("europe-west2", "europe-west6")


def is_eu_location(location: str) -> bool:
    if location == "EU":
        return True
    return location.startswith("europe-") and location not in _NON_EU_EUROPE
