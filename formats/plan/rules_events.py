"""Rules for the plan's user data, item fields and events with their params."""

from __future__ import annotations

import math
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from formats.plan import model as m
from formats.plan.reading import NAME, Reader, fits_type, plain

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


class EventRules(Reader):
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
                    if not fits_type(ptype, value):
                        self.error(
                            self.value_pos(values, i),
                            f"{where}.enum[{i}]: {value!r} is not a valid {ptype}",
                        )
                if len(set(map(repr, values))) != len(values):
                    self.error(self.value_pos(node, "enum"), f"{where}.enum has duplicate values")
                enum = tuple(plain(v) for v in values)
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
            bounds.append(plain(value) if value is not None else None)
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
