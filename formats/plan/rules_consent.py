"""Rules for consent: purposes, the missing-consent policy and regional rules."""

from __future__ import annotations

import re

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from formats.plan import model as m
from formats.plan.reading import NAME, Reader

COUNTRY = re.compile(r"^[A-Z]{2}$")
SUBDIVISION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


class ConsentRules(Reader):
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
