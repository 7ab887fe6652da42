"""Rules for sources (web, Shopify, WooCommerce, Stripe) and the delivery to sGTM."""

from __future__ import annotations

import copy
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from formats.plan import model as m
from formats.plan.kinds import RATE, SHOPIFY_TOPICS, SOURCE_SECRETS, SOURCE_SETTINGS
from formats.plan.reading import NAME, Reader, suggest

HTTP_PATH = re.compile(r"^/[A-Za-z0-9_\-./]*$")


class SourceRules(Reader):
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
