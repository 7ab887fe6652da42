"""Reading plan YAML with positions: the node helpers every rule module uses, and how a problem
is reported (``FILE:LINE:COL: message`` plus a suggestion).

ruamel.yaml's round-trip nodes keep the line and column of every key and value; the helpers here
check one node's shape (a mapping with known keys, a string, a bounded integer, a choice, a list
of known names, a reference to a secret) and record a problem at its position instead of raising,
so one run reports every problem in the plan.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import MappingNode, SequenceNode

from formats.plan import model as m
from formats.plan.errors import Problem

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,127}$")
# Strings that look like credentials pasted where a reference belongs: known vendor prefixes,
# or long high-entropy tokens mixing letters and digits.
SECRET_PREFIXES = ("shpss_", "shpat_", "sk_live_", "sk_test_", "whsec_", "EAA", "AIza", "ya29.")
TOKENLIKE = re.compile(r"^[A-Za-z0-9_\-+/=.:]{20,}$")

Pos = tuple[int, int]


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


class Reader:
    """Problems found so far and the node helpers that find them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

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
            return Reader.pos_of(node)
        try:
            line, col = node.lc.key(key)
            return (line, col)
        except (KeyError, TypeError, AttributeError):
            return Reader.pos_of(node)

    @staticmethod
    def value_pos(node: CommentedMap | CommentedSeq | None, key: Any) -> Pos:
        if node is None:
            return Reader.pos_of(node)
        try:
            if isinstance(node, CommentedSeq):
                line, col = node.lc.item(key)
            else:
                line, col = node.lc.value(key)
            return (line, col)
        except (KeyError, TypeError, AttributeError, IndexError):
            return Reader.pos_of(node)

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


def plain(value: Any) -> Any:
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


def fits_type(ptype: str, value: Any) -> bool:
    if ptype in ("string", "currency"):
        return isinstance(value, str)
    if ptype == "boolean":
        return isinstance(value, bool)
    if ptype in ("integer", "timestamp"):
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False
