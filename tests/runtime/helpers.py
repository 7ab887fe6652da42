"""Small builders for the runtime tests: templates from code, containers from templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from formats.tpl import encode_value, parse_tpl, render_tpl
from runtime.engine import Template, compile_template, run_template
from runtime.environment import Environment
from runtime.host import Request, RunState

FIXTURES = Path(__file__).parent / "fixtures"


def perm(public_id: str, **params: Any) -> dict[str, Any]:
    return {
        "instance": {
            "key": {"publicId": public_id, "versionId": "1"},
            "param": [{"key": k, "value": encode_value(v)} for k, v in params.items()],
        },
        "isRequired": True,
    }


def tpl_text(
    code: str,
    permissions: list[dict[str, Any]] | None = None,
    kind: str = "TAG",
    tests: str = "scenarios: []",
) -> str:
    return render_tpl(
        info={"type": kind, "id": "cvt_temp_public_id", "displayName": "t"},
        parameters=[],
        code=code,
        permissions=permissions or [],
        tests=tests,
        notes="",
    )


def template(
    code: str,
    permissions: list[dict[str, Any]] | None = None,
    kind: str = "TAG",
    tests: str = "scenarios: []",
    source: str = "t.tpl",
) -> Template:
    return compile_template(parse_tpl(tpl_text(code, permissions, kind, tests), source))


def run(
    code: str,
    permissions: list[dict[str, Any]] | None = None,
    *,
    kind: str = "TAG",
    data: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    request: Request | None = None,
    env: Environment | None = None,
    timeout: float = 2.0,
):
    t = template(code, permissions, kind)
    state = RunState(
        template_id=t.id,
        permissions=t.permissions,
        kind=kind,
        env=env or Environment(),
        event=event,
        request=request,
    )
    return run_template(t, data or {}, state, timeout), state


def param(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "BOOLEAN", "key": key, "value": "true" if value else "false"}
    if isinstance(value, list):
        return {"type": "LIST", "key": key, "list": [_item(v) for v in value]}
    return {"type": "TEMPLATE", "key": key, "value": str(value)}


def _item(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"type": "MAP", "map": [param(k, v) for k, v in value.items()]}
    return {"type": "TEMPLATE", "value": str(value)}


def event_trigger(trigger_id: str, event_name: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "triggerId": trigger_id,
        "name": f"CE - {event_name}",
        "type": "CUSTOM_EVENT",
        "customEventFilter": [condition("EQUALS", "{{_event}}", event_name)],
        "filter": list(extra),
    }


def condition(kind: str, arg0: str, arg1: str, negate: bool = False) -> dict[str, Any]:
    params = [
        {"type": "TEMPLATE", "key": "arg0", "value": arg0},
        {"type": "TEMPLATE", "key": "arg1", "value": arg1},
    ]
    if negate:
        params.append({"type": "BOOLEAN", "key": "negate", "value": "true"})
    return {"type": kind, "parameter": params}


def container(
    path: Path,
    templates: dict[str, str],
    clients: list[dict[str, Any]],
    tags: list[dict[str, Any]],
    triggers: list[dict[str, Any]],
    variables: list[dict[str, Any]] | None = None,
    builtins: tuple[str, ...] = ("EVENT_NAME", "CLIENT_NAME"),
) -> Path:
    """Write a server container export. ``templates`` maps template id -> .tpl text; entities
    refer to them as ``cvt_11_<id>``."""
    names = {"EVENT_NAME": "Event Name", "CLIENT_NAME": "Client Name"}
    doc = {
        "exportFormatVersion": 2,
        "containerVersion": {
            "containerVersionId": "7",
            "container": {"containerId": "11", "publicId": "GTM-TEST", "usageContext": ["SERVER"]},
            "customTemplate": [
                {"containerId": "11", "templateId": tid, "name": f"tpl {tid}", "templateData": text}
                for tid, text in templates.items()
            ],
            "client": clients,
            "tag": tags,
            "trigger": triggers,
            "variable": variables or [],
            "builtInVariable": [{"type": b, "name": names.get(b, b)} for b in builtins],
        },
    }
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")
