"""Envelope validation: strip what the plan does not declare, then check the plan's JSON Schema.

The stripping rule (data minimisation; docs/sidecar.md "Unknown fields"):

    Wherever the compiled envelope schema declares an object's fields exhaustively (the
    envelope itself, ``consent``, ``user_data``, ``context``, the event's ``params`` and each
    item), a member it does not declare is removed and counted before validation, so it is
    neither stored nor forwarded. Only names are looked at; a member whose value has the wrong
    type is kept and reported by validation. Nothing else is ever removed.

Validation then reports the errors, each with the JSON pointer of the offending member (RFC
6901) and a message that never repeats the submitted value (it may be personal data). The work
and the answer are bounded (docs/sidecar.md "Threat model"): an event's errors are explained up
to ``MAX_EXPLAINED``, of which the first ``MAX_LISTED`` are listed and the rest counted.

A string holding a lone surrogate (JSON's ``"\ud800"`` escape without its pair) is refused
first, with its pointer: it is not Unicode text, cannot be encoded as UTF-8 for hashing or
forwarding, and would otherwise fail far from where it came in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from formats.plan.model import ENVELOPE_SCHEMA_MAJOR

# Errors listed per event; the rest are counted (``Validated.omitted``).
MAX_LISTED = 20
# Errors explained per event: the Python validator stops there (each costs ~30 us).
MAX_EXPLAINED = 100
LONE_SURROGATE = "is not valid Unicode text: it holds a lone surrogate (\\ud800-\\udfff)"


@dataclass(frozen=True)
class FieldError:
    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass(frozen=True)
class Validated:
    envelope: dict[str, Any] | None  # None when there are errors
    stripped: tuple[str, ...] = ()  # pointers of the removed members
    errors: tuple[FieldError, ...] = field(default=())
    # Errors found but not listed (at most MAX_EXPLAINED - MAX_LISTED are ever counted).
    omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def pointer_escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def join(pointer: str, token: Any) -> str:
    return f"{pointer}/{pointer_escape(token)}"


class EnvelopeValidator:
    """Holds the compiled envelope schema; ``check`` is safe to call from many threads."""

    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._defs = schema.get("$defs", {})
        self._validator = Draft202012Validator(schema)
        self._fast = jsonschema_rs.validator_for(schema)
        # One validator per event name with that event's params schema in place of the
        # allOf/if/then chain: the same errors, without evaluating every other event's branch
        # (the chain was most of the validation time).
        self._by_event = {
            branch["if"]["properties"]["event_name"]["const"]: Draft202012Validator(
                _specialised(schema, branch)
            )
            for branch in schema.get("allOf", ())
            if "const" in branch.get("if", {}).get("properties", {}).get("event_name", {})
        }

    def check(self, envelope: Any, *, explain: bool = True, listed: int = MAX_LISTED) -> Validated:
        """Strip and validate one envelope. ``explain=False`` (a request whose error budget is
        spent) still accepts a valid envelope, but answers an invalid one with one error
        instead of paying for the explanation; at most ``listed`` errors are listed."""
        if not isinstance(envelope, dict):
            return Validated(
                None, (), (FieldError("", f"must be an object, not {_kind(envelope)}"),)
            )
        major = envelope.get("schema")
        if (
            isinstance(major, int)
            and not isinstance(major, bool)
            and major != ENVELOPE_SCHEMA_MAJOR
        ):
            when = "no longer supported" if major < ENVELOPE_SCHEMA_MAJOR else "not supported yet"
            return Validated(
                None,
                (),
                (
                    FieldError(
                        "/schema",
                        f"envelope schema {major} is {when}; this sidecar accepts schema "
                        f"{ENVELOPE_SCHEMA_MAJOR} (docs/architecture.md)",
                    ),
                ),
            )
        stripped: list[str] = []
        clean = self._strip(envelope, self.schema, "", stripped, root=envelope)
        surrogates = lone_surrogates(clean)
        if surrogates:
            errors = [FieldError(p, LONE_SURROGATE) for p in surrogates]
            return Validated(None, tuple(stripped), tuple(errors[:listed]), len(errors[listed:]))
        # The Rust validator answers "valid?" a hundred times faster; only an invalid
        # envelope pays for the Python one, which explains the errors with their pointers.
        if self._fast.is_valid(clean):
            return Validated(clean, tuple(stripped), ())
        if not explain:
            budget = FieldError(
                "",
                "invalid, and not explained: this request's budget of explained errors is "
                "spent; fix the errors listed for the events before it and send it again",
            )
            return Validated(None, tuple(stripped), (budget,))
        name = clean.get("event_name")
        validator = self._by_event.get(name, self._validator) if isinstance(name, str) else None
        validator = validator or self._validator
        found: set[FieldError] = set()
        for error in validator.iter_errors(clean):
            found.update(_field_errors(error))
            if len(found) >= MAX_EXPLAINED:
                break
        errors = sorted(found, key=lambda e: (e.pointer, e.message))
        if not errors:
            # The two validators disagree: trust the stricter answer, say where it came from.
            errors = [FieldError("", "rejected by the plan's schema")]
        return Validated(None, tuple(stripped), tuple(errors[:listed]), len(errors[listed:]))

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self._defs.get(ref[len("#/$defs/") :], {})
        return schema

    def _strip(
        self,
        value: Any,
        schema: dict[str, Any],
        pointer: str,
        stripped: list[str],
        root: dict[str, Any],
    ) -> Any:
        schema = self._resolve(schema)
        if isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                return [
                    self._strip(v, items, join(pointer, i), stripped, root)
                    for i, v in enumerate(value)
                ]
            return list(value)
        if not isinstance(value, dict):
            return value
        properties = dict(schema.get("properties", {}))
        # The event's own params schema applies through allOf/if/then on event_name.
        for branch in schema.get("allOf", ()):
            const = branch.get("if", {}).get("properties", {}).get("event_name", {}).get("const")
            if const is not None and const == root.get("event_name"):
                properties.update(branch.get("then", {}).get("properties", {}))
        known: Iterable[str] | None = None
        if schema.get("additionalProperties") is False:
            known = properties
        names = schema.get("propertyNames", {}).get("enum")
        if isinstance(names, list):
            known = names
        out: dict[str, Any] = {}
        allowed = set(known) if known is not None else None
        for key, member in value.items():
            if allowed is not None and key not in allowed:
                stripped.append(join(pointer, key))
                continue
            sub = properties.get(key)
            if isinstance(sub, dict):
                out[key] = self._strip(member, sub, join(pointer, key), stripped, root)
            else:
                out[key] = member
        return out


def lone_surrogates(value: Any, pointer: str = "") -> list[str]:
    """Pointers of the strings (and member names) in ``value`` that hold a lone surrogate."""
    if isinstance(value, str):
        return [] if value.isascii() or _encodable(value) else [pointer]
    found: list[str] = []
    if isinstance(value, dict):
        for key, member in value.items():
            if not _encodable(key):
                found.append(pointer or "/")
                continue
            found.extend(lone_surrogates(member, join(pointer, key)))
    elif isinstance(value, list):
        for i, member in enumerate(value):
            found.extend(lone_surrogates(member, join(pointer, i)))
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _specialised(schema: dict[str, Any], branch: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k != "allOf"}
    properties = dict(out["properties"])
    for name, sub in branch.get("then", {}).get("properties", {}).items():
        properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
    out["properties"] = properties
    # Local $defs references inlined: resolving a $ref per item is jsonschema's slow path.
    return _inline(out, schema.get("$defs", {}))


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref[len("#/$defs/") :]], defs)
        return {k: (v if k == "$defs" else _inline(v, defs)) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _field_errors(error: ValidationError) -> list[FieldError]:
    pointer = "".join(f"/{pointer_escape(p)}" for p in error.absolute_path)
    v, expected = error.validator, error.validator_value
    if v == "required":
        # One error per missing member, pointing where it should be.
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            FieldError(join(pointer, name), "required member missing")
            for name in expected
            if name not in instance
        ]
    messages = {
        "type": lambda: f"must be of type {_types(expected)}, not {_kind(error.instance)}",
        "const": lambda: f"must be {expected!r}",
        "enum": lambda: "must be one of: " + ", ".join(repr(x) for x in expected),
        "maxLength": lambda: f"must be at most {expected} characters long",
        "minLength": lambda: f"must be at least {expected} characters long",
        "pattern": lambda: f"must match the pattern {expected}",
        "minimum": lambda: f"must be >= {expected}",
        "maximum": lambda: f"must be <= {expected}",
        "exclusiveMinimum": lambda: f"must be > {expected}",
        "exclusiveMaximum": lambda: f"must be < {expected}",
        "minItems": lambda: f"must have at least {expected} item(s)",
        "maxItems": lambda: f"must have at most {expected} item(s)",
        "additionalProperties": lambda: "has members the plan does not declare",
        "propertyNames": lambda: "has a member name the plan does not declare",
    }
    make = messages.get(v)
    return [FieldError(pointer, make() if make else f"fails the {v} rule of the plan's schema")]


def _types(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(expected)
    return str(expected)
