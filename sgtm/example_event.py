"""A valid canonical envelope for any event of a plan, for `sgtm send` and first tries.

Every required param gets a value its plan type, bounds and enum accept; the caller's
`--param k=v` values replace or add to them, parsed by the param's type. The result still goes
through the sidecar's own validator before it is sent, so a bad `--param` is reported here with
the field's JSON pointer rather than as a 400 from the server.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from formats.plan.model import ENVELOPE_SCHEMA_MAJOR, Event, Param, Plan


class ExampleError(ValueError):
    """A `--param` that cannot be used; the message names the param and why."""


@dataclass(frozen=True)
class ParamValue:
    name: str
    text: str


def parse_assignment(text: str) -> ParamValue:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ExampleError(f"--param {text!r}: expected NAME=VALUE, e.g. value=59.9")
    return ParamValue(name.strip(), value)


def _sample_number(param: Param, default: float) -> float:
    value = default
    if param.minimum is not None:
        value = max(value, param.minimum)
    if param.maximum is not None:
        value = min(value, param.maximum)
    return value


def sample_value(param: Param, plan: Plan) -> Any:
    """A value of `param` that the plan's schema accepts."""
    if param.enum:
        return param.enum[0]
    if param.type == "currency":
        return plan.currency
    if param.type == "number":
        return _sample_number(param, 10.0)
    if param.type == "integer":
        return int(_sample_number(param, 1))
    if param.type == "boolean":
        return True
    if param.type == "timestamp":
        return int(time.time() * 1000)
    if param.type == "items":
        count = int(param.minimum) if param.minimum is not None and param.minimum > 1 else 1
        return [
            {"id": f"SKU-{i + 1}", "name": f"Test item {i + 1}", "qty": 1, "price": 10.0}
            for i in range(count)
        ]
    if param.pattern:
        raise ExampleError(
            f"param {param.name!r} must match {param.pattern!r}; give it with "
            f"--param {param.name}=VALUE"
        )
    text = "test"
    return text[: param.max_length] if param.max_length else text


def parse_value(param: Param, text: str) -> Any:
    """`--param NAME=TEXT` as the value the param's type wants."""
    where = f"--param {param.name}={text}"
    try:
        if param.type == "number":
            return float(text)
        if param.type in ("integer", "timestamp"):
            return int(text)
        if param.type == "boolean":
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise ValueError("expected true or false")
        if param.type == "items":
            value = json.loads(text)
            if not isinstance(value, list):
                raise ValueError('expected a JSON array such as [{"id": "SKU-1", "qty": 1}]')
            return value
    except json.JSONDecodeError as exc:
        raise ExampleError(f"{where}: not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise ExampleError(f"{where}: not a {param.type}: {exc}") from None
    return text


def build_envelope(
    plan: Plan,
    event_name: str,
    params: list[ParamValue] = (),  # type: ignore[assignment]
    denied: tuple[str, ...] = (),
    origin: str = "",
    now_ms: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    event = plan.events.get(event_name)
    if event is None:
        raise ExampleError(
            f"event {event_name!r} is not in plan {plan.name} (events: {', '.join(plan.events)})"
        )
    unknown = [p for p in denied if p not in plan.purposes]
    if unknown:
        raise ExampleError(
            f"--deny {unknown[0]!r}: not a purpose of plan {plan.name} "
            f"(purposes: {', '.join(plan.purposes)})"
        )
    values = _params(event, plan, params)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    seconds = now_ms // 1000
    envelope: dict[str, Any] = {
        "schema": ENVELOPE_SCHEMA_MAJOR,
        "event_name": event_name,
        "event_id": event_id or f"sgtm-send-{uuid.uuid4().hex[:16]}",
        "timestamp": now_ms,
        "client_id": f"1000000000.{seconds}",
        "session_id": str(seconds),
        "consent": {name: name not in denied for name in plan.purposes},
        "params": values,
        "context": {"user_agent": "sgtm send"},
    }
    if origin:
        envelope["context"]["page_location"] = origin.rstrip("/") + "/"
    return envelope


def _params(event: Event, plan: Plan, given: list[ParamValue]) -> dict[str, Any]:
    named = {assignment.name for assignment in given}
    values = {
        name: sample_value(p, plan)
        for name, p in event.params.items()
        if p.required and name not in named
    }
    for assignment in given:
        param = event.params.get(assignment.name)
        if param is None:
            raise ExampleError(
                f"--param {assignment.name}: event {event.name!r} has no such param "
                f"(params: {', '.join(event.params) or 'none'})"
            )
        values[assignment.name] = parse_value(param, assignment.text)
    return values
