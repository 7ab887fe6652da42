"""Reading webhook payloads field by field, with a JSON pointer for every complaint.

A ``Node`` is a value and where it sits in the payload. Accessors return typed values or raise
``PayloadError`` naming the pointer and what was expected; messages describe types, never the
value itself (payloads carry personal data).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sidecar.webhooks.money import parse_amount

_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
# No order is worth a trillion; beyond it a JSON number loses cents and quantizing overflows.
AMOUNT_LIMIT = Decimal(10) ** 12


class PayloadError(ValueError):
    """The payload cannot be mapped: ``pointer`` says where, the message why."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer or "/"
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


def parse_body(body: bytes) -> Any:
    """The JSON document of a webhook body; fractions become ``Decimal`` (never float)."""
    if not body.strip():
        raise PayloadError("/", "empty body; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("/", f"body is not valid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except _Constant as exc:
        raise PayloadError("/", f"{exc.args[0]} is not a JSON number") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(
            "/", f"not JSON: line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    except RecursionError:
        raise PayloadError("/", "JSON nested too deeply") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits (sys.int_info.default_max_str_digits).
        raise PayloadError("/", "a number in the body has too many digits") from None


class _Constant(ValueError):
    pass


def _no_constant(text: str) -> Any:
    # json.loads would otherwise accept NaN, Infinity and -Infinity, which JSON does not have.
    raise _Constant(text)


def repair_surrogates(value: Any, pointer: str = "", repaired: list[str] | None = None) -> Any:
    """``value`` with every lone surrogate (JSON's ``"\\ud800"`` without its pair) replaced by
    U+FFFD, the Unicode replacement character; ``repaired`` collects the pointers.

    A signed webhook is authentic, so it is never refused (a refusal would come back on every
    retry): the one character that cannot be text is replaced, where it is, and the answer and
    the log name the field (never the value).
    """
    found = [] if repaired is None else repaired
    if isinstance(value, str):
        if value.isascii():
            return value
        # json.loads joins a valid pair into one code point: any surrogate left is alone.
        fixed = _SURROGATE.sub("\ufffd", value)
        if fixed != value:
            found.append(pointer or "/")
        return fixed
    if isinstance(value, dict):
        return {
            repair_surrogates(k, pointer, found): repair_surrogates(
                v, f"{pointer}/{_escape(k)}", found
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [repair_surrogates(v, f"{pointer}/{i}", found) for i, v in enumerate(value)]
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _escape(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Node:
    value: Any
    pointer: str = ""

    @property
    def present(self) -> bool:
        return self.value is not _MISSING and self.value is not None

    def __getitem__(self, key: str) -> Node:
        child = f"{self.pointer}/{_escape(key)}"
        if isinstance(self.value, dict):
            return Node(self.value.get(key, _MISSING), child)
        return Node(_MISSING, child)

    def fail(self, message: str) -> PayloadError:
        return PayloadError(self.pointer, message)

    def _got(self) -> str:
        return "is missing" if self.value is _MISSING else f"is {_kind(self.value)}"

    def obj(self) -> Node:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, but it {self._got()}")
        return self

    def array(self, required: bool = False) -> list[Node]:
        if not self.present and not required:
            return []
        if not isinstance(self.value, list):
            raise self.fail(f"expected an array, but it {self._got()}")
        return [Node(v, f"{self.pointer}/{i}") for i, v in enumerate(self.value)]

    def ident(self) -> str:
        """An id: a non-negative integer or a non-empty string, as text."""
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise self.fail(f"expected an id (integer or non-empty string), but it {self._got()}")

    def opt_ident(self) -> str | None:
        return self.ident() if self.present else None

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"expected a string, but it {self._got()}")
        return self.value

    def opt_text(self) -> str | None:
        """A string, or None when absent/null/empty; any other type is an error."""
        if not self.present:
            return None
        return self.text().strip() or None

    def integer(self, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.value
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"expected an integer, but it {self._got()}")
        if minimum is not None and value < minimum:
            raise self.fail(f"expected an integer of at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.fail(f"expected an integer of at most {maximum}")
        return value

    def boolean(self, default: bool = False) -> bool:
        if not self.present:
            return default
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, but it {self._got()}")
        return self.value

    def amount(self) -> Decimal:
        parsed = parse_amount(self.value)
        if parsed is None:
            if isinstance(self.value, str):
                raise self.fail('expected a decimal amount like "59.90", but the text is not one')
            raise self.fail(f"expected a decimal amount, but it {self._got()}")
        if not parsed.is_finite() or abs(parsed) >= AMOUNT_LIMIT:
            raise self.fail("is out of range: amounts must stay below 10^12")
        return parsed

    def opt_amount(self) -> Decimal | None:
        return self.amount() if self.present else None
