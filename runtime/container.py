"""A server-container export, loaded for running: clients, triggers, tags and variables.

``load_container`` checks the references a run depends on (template type codes, trigger ids,
``{{Variable}}`` names) and reports each problem with the JSON pointer of the field, so a bad
export fails at start-up, not on the first request. ``ContainerRuntime.handle`` then takes one
HTTP request through the clients in priority order; a claiming client's ``runContainer`` fires
the tags whose triggers match, with their parameters resolved.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formats.gtm_builtins import BUILTIN_VARIABLE_NAMES
from formats.tpl import TplError, parse_tpl
from runtime.engine import Sandbox, Template, compile_template, run_template
from runtime.environment import Environment
from runtime.host import Request, Response, RunState, event_value
from runtime.messages import MessageBus
from runtime.syntax import TemplateSyntaxError

REF = re.compile(r"\{\{([^{}]+)\}\}")

# GTM's own tables (display names, type codes) are formats.gtm_builtins, shared with the
# validator; this is the part of them the runtime emulates.
EMULATED_BUILTIN_VARIABLES = (
    "EVENT_NAME",
    "CLIENT_NAME",
    "REQUEST_PATH",
    "REQUEST_METHOD",
    "QUERY_STRING",
    "CONTAINER_VERSION",
    "CONTAINER_ID",
    "DEBUG_MODE",
    "RANDOM_NUMBER",
    "VISITOR_REGION",
)
VARIABLE_TYPES = ("ed", "c", "rh", "qp", "sgtmk", "smm", "remm", "uv", "ctv")
CONDITIONS = (
    "EQUALS",
    "CONTAINS",
    "STARTS_WITH",
    "ENDS_WITH",
    "MATCH_REGEX",
    "LESS",
    "LESS_OR_EQUALS",
    "GREATER",
    "GREATER_OR_EQUALS",
)


class ContainerError(ValueError):
    """A container that cannot be served; every problem names its JSON pointer."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True)
class Entity:
    kind: str  # client, tag, variable
    name: str
    type: str
    parameters: list[dict[str, Any]]
    pointer: str
    priority: int = 0
    firing: tuple[str, ...] = ()
    blocking: tuple[str, ...] = ()
    paused: bool = False
    id: str = ""
    metadata: tuple[dict[str, Any], ...] = ()  # "Additional tag metadata" (MAP entries)
    metadata_name_key: str = ""


@dataclass(frozen=True)
class Trigger:
    id: str
    name: str
    type: str
    conditions: tuple[dict[str, Any], ...]
    pointer: str


@dataclass
class Container:
    source: str
    public_id: str
    version: str
    clients: list[Entity]
    tags: list[Entity]
    triggers: dict[str, Trigger]
    variables: dict[str, Entity]
    builtins: dict[str, str]  # display name -> builtin type
    templates: dict[str, Template]  # type code -> template
    warnings: list[str] = field(default_factory=list)


def load_container(path: str | Path) -> Container:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContainerError(str(p), [f"cannot read: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise ContainerError(
            str(p), [f"line {exc.lineno} column {exc.colno}: not JSON: {exc.msg}"]
        ) from None
    return build_container(doc, str(p))


def build_container(doc: Any, source: str) -> Container:
    problems: list[str] = []
    cv = doc.get("containerVersion") if isinstance(doc, dict) else None
    if not isinstance(cv, dict):
        raise ContainerError(source, ["/containerVersion: missing; not a container export"])
    context = (cv.get("container") or {}).get("usageContext") or []
    if context and "SERVER" not in context:
        problems.append(
            f"/containerVersion/container/usageContext: {context} is not a server container"
        )

    templates: dict[str, Template] = {}
    container_id = str((cv.get("container") or {}).get("containerId", ""))
    for i, entry in enumerate(cv.get("customTemplate") or []):
        pointer = f"/containerVersion/customTemplate/{i}"
        name = str(entry.get("name", f"template {i}"))
        try:
            tpl = parse_tpl(str(entry.get("templateData", "")), f"{source}#{name}")
            template = compile_template(
                tpl, template_id=f"{container_id}_{entry.get('templateId')}"
            )
        except (TplError, TemplateSyntaxError) as exc:
            problems.append(f"{pointer}/templateData: {exc}")
            continue
        cid = str(entry.get("containerId", container_id))
        templates[f"cvt_{cid}_{entry.get('templateId')}"] = template
        gallery = (entry.get("galleryReference") or {}).get("galleryTemplateId")
        if gallery:
            templates[f"cvt_{gallery}"] = template

    def entity(kind: str, raw: dict[str, Any], pointer: str) -> Entity:
        priority = raw.get("priority", 0)
        if isinstance(priority, dict):  # tags carry an INTEGER Parameter
            priority = priority.get("value", 0)
        try:
            prio = int(priority or 0)
        except (TypeError, ValueError):
            problems.append(f"{pointer}/priority: {priority!r} is not an integer")
            prio = 0
        return Entity(
            kind=kind,
            name=str(raw.get("name", "")),
            type=str(raw.get("type", "")),
            parameters=list(raw.get("parameter") or []),
            pointer=pointer,
            priority=prio,
            firing=tuple(str(t) for t in raw.get("firingTriggerId") or []),
            blocking=tuple(str(t) for t in raw.get("blockingTriggerId") or []),
            paused=bool(raw.get("paused", False)),
            id=str(raw.get("tagId") or raw.get("clientId") or raw.get("variableId") or ""),
            metadata=tuple((raw.get("monitoringMetadata") or {}).get("map") or []),
            metadata_name_key=str(raw.get("monitoringMetadataTagNameKey") or ""),
        )

    clients = [
        entity("client", c, f"/containerVersion/client/{i}")
        for i, c in enumerate(cv.get("client") or [])
    ]
    tags = [
        entity("tag", t, f"/containerVersion/tag/{i}") for i, t in enumerate(cv.get("tag") or [])
    ]
    variables = {
        str(v.get("name", "")): entity("variable", v, f"/containerVersion/variable/{i}")
        for i, v in enumerate(cv.get("variable") or [])
    }
    builtins = {
        str(b.get("name") or BUILTIN_VARIABLE_NAMES.get(str(b.get("type")), "")): str(b.get("type"))
        for b in cv.get("builtInVariable") or []
    }
    triggers: dict[str, Trigger] = {}
    for i, t in enumerate(cv.get("trigger") or []):
        pointer = f"/containerVersion/trigger/{i}"
        conds = tuple(t.get("customEventFilter") or []) + tuple(t.get("filter") or [])
        triggers[str(t.get("triggerId"))] = Trigger(
            str(t.get("triggerId")), str(t.get("name", "")), str(t.get("type", "")), conds, pointer
        )
        if t.get("type") not in ("CUSTOM_EVENT", "ALWAYS"):
            problems.append(
                f"{pointer}/type: {t.get('type')!r}: server containers use CUSTOM_EVENT or ALWAYS"
            )
        for j, cond in enumerate(conds):
            if cond.get("type") not in CONDITIONS:
                problems.append(
                    f"{pointer}: condition {j} type {cond.get('type')!r} is not supported"
                )

    container = Container(
        source=source,
        public_id=str((cv.get("container") or {}).get("publicId", "GTM-LOCAL")),
        version=str(cv.get("containerVersionId", "0")),
        clients=clients,
        tags=tags,
        triggers=triggers,
        variables=variables,
        builtins=builtins,
        templates=templates,
    )

    known_names = set(variables) | set(builtins) | {"_event"}
    for ent in [*clients, *tags, *variables.values()]:
        if ent.type.startswith("cvt_") and ent.type not in templates:
            problems.append(f"{ent.pointer}/type: template {ent.type!r} is not in customTemplate")
        elif not ent.type.startswith("cvt_"):
            if ent.kind == "variable" and ent.type not in VARIABLE_TYPES:
                container.warnings.append(
                    f"{ent.pointer}: variable {ent.name!r} of type {ent.type!r} is not supported by "
                    "the local runtime; referencing it fails the tag"
                )
            elif ent.kind != "variable":
                container.warnings.append(
                    f"{ent.pointer}: {ent.kind} {ent.name!r} is GTM's built-in {ent.type!r}, which "
                    "the local runtime does not emulate"
                    + (
                        "; it never claims a request"
                        if ent.kind == "client"
                        else "; it fails when fired"
                    )
                )
        for ref, where in _references(ent.parameters, ent.pointer + "/parameter"):
            if ref not in known_names:
                problems.append(f"{where}: {{{{{ref}}}}} is not a variable of this container")
        for tid in (*ent.firing, *ent.blocking):
            if tid not in triggers and not tid.startswith("21474795"):
                problems.append(f"{ent.pointer}: trigger id {tid!r} is not defined")
    for trig in triggers.values():
        for ref, where in _references(
            [p for c in trig.conditions for p in c.get("parameter") or []], trig.pointer
        ):
            if ref not in known_names:
                problems.append(f"{where}: {{{{{ref}}}}} is not a variable of this container")
    if problems:
        raise ContainerError(source, problems)
    return container


def _references(params: list[dict[str, Any]], pointer: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i, p in enumerate(params):
        if not isinstance(p, dict):
            continue
        here = f"{pointer}/{i}"
        if isinstance(p.get("value"), str):
            out += [(m.strip(), here + "/value") for m in REF.findall(p["value"])]
        if isinstance(p.get("list"), list):
            out += _references(p["list"], here + "/list")
        if isinstance(p.get("map"), list):
            out += _references(p["map"], here + "/map")
    return out


@dataclass
class TagRun:
    name: str
    status: str  # success, failure, exception, timeout, not_supported
    duration_ms: float
    error: str | None = None


@dataclass
class HandledRequest:
    response: Response
    client: str | None
    tags: list[TagRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Resolver:
    """Variable values for one event (cached per event, cycles reported)."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        event: dict[str, Any],
        request: Request,
        client_name: str,
    ) -> None:
        self.runtime = runtime
        self.container = runtime.container
        self.event = event
        self.request = request
        self.client_name = client_name
        self.cache: dict[str, Any] = {}
        self.active: list[str] = []

    def variable(self, name: str) -> Any:
        if name in self.cache:
            return self.cache[name]
        if name in self.active:
            raise ValueError(f"variable cycle: {' -> '.join([*self.active, name])}")
        self.active.append(name)
        try:
            value = self._compute(name)
        finally:
            self.active.pop()
        self.cache[name] = value
        return value

    def _compute(self, name: str) -> Any:
        if name == "_event":
            return self.event.get("event_name")
        var = self.container.variables.get(name)
        if var is None:
            return self._builtin(self.container.builtins.get(name, ""), name)
        params = {p.get("key"): p for p in var.parameters if isinstance(p, dict)}

        def arg(key: str) -> Any:
            return self.value(params[key]) if key in params else None

        kind = var.type
        if kind == "ed":
            value = event_value(self.event, str(arg("keyPath") or ""))
        elif kind == "c":
            value = arg("value")
            if value in (None, ""):
                # Credentials stay out of exports: an empty constant is filled from the
                # environment variable of the same name (docs/runtime.md).
                value = os.environ.get(name, value)
        elif kind == "rh":
            value = self.request.header(str(arg("headerName") or ""))
        elif kind == "qp":
            from urllib.parse import parse_qsl

            wanted = str(arg("queryParamName") or "")
            value = next((v for k, v in parse_qsl(self.request.query) if k == wanted), None)
        elif kind == "sgtmk":
            from urllib.parse import unquote

            wanted = str(arg("name") or "")
            found = [
                v
                for k, _, v in (
                    c.strip().partition("=")
                    for c in (self.request.header("cookie") or "").split(";")
                )
                if k == wanted
            ]
            value = found[0] if found else None
            if value is not None and arg("decodeCookie"):
                value = unquote(value)
        elif kind == "smm":
            value = self._lookup(arg, regex=False)
        elif kind == "remm":
            value = self._lookup(arg, regex=True)
        elif kind == "uv":
            value = None
        elif kind == "ctv":
            value = self.container.version
        elif kind.startswith("cvt_"):
            value = self.runtime.run_variable(var, self)
        else:
            raise ValueError(
                f"variable {name!r}: type {kind!r} is not supported by the local runtime"
            )
        if value is None and kind in ("ed", "smm", "remm") and arg("setDefaultValue"):
            value = arg("defaultValue")
        return value

    def _lookup(self, arg: Any, regex: bool) -> Any:
        source = arg("input")
        text = "" if source is None else str(source)
        for row in arg("map") or []:
            if not isinstance(row, dict):
                continue
            key, value = str(row.get("key", "")), row.get("value")
            if not regex:
                if text == key:
                    return value
                continue
            flags = re.IGNORECASE if arg("ignoreCase") else 0
            try:
                pattern = re.compile(key, flags)
            except re.error:
                continue
            match = pattern.fullmatch(text) if arg("fullMatch") else pattern.search(text)
            if match:
                if arg("replaceAfterMatch") and isinstance(value, str):
                    return match.expand(re.sub(r"\$(\d)", r"\\\1", value))
                return value
        return None

    def _builtin(self, kind: str, name: str) -> Any:
        req, container = self.request, self.container
        env = self.runtime.env
        values = {
            "EVENT_NAME": lambda: self.event.get("event_name"),
            "CLIENT_NAME": lambda: self.client_name,
            "REQUEST_PATH": lambda: req.path,
            "REQUEST_METHOD": lambda: req.method,
            "QUERY_STRING": lambda: req.query,
            "CONTAINER_VERSION": lambda: container.version,
            "CONTAINER_ID": lambda: container.public_id,
            "DEBUG_MODE": lambda: env.debug,
            "RANDOM_NUMBER": lambda: secrets.randbelow(2**31),
            "VISITOR_REGION": lambda: None,
        }
        fn = values.get(kind)
        if fn is None:
            raise ValueError(f"{{{{{name}}}}} is not a variable of this container")
        return fn()

    def value(self, param: dict[str, Any]) -> Any:
        """A Parameter's runtime value: a lone ``{{Var}}`` keeps the variable's type."""
        kind = param.get("type")
        if kind == "LIST":
            return [self.value(p) for p in param.get("list") or []]
        if kind == "MAP":
            return {p.get("key"): self.value(p) for p in param.get("map") or []}
        raw = param.get("value")
        if kind == "BOOLEAN":
            return str(raw).lower() == "true"
        if kind == "INTEGER":
            try:
                return int(str(raw))
            except ValueError:
                return raw
        if raw is None:
            return None
        text = str(raw)
        whole = REF.fullmatch(text.strip())
        if whole:
            return self.variable(whole.group(1).strip())
        return REF.sub(lambda m: _as_text(self.variable(m.group(1).strip())), text)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def condition_holds(cond: dict[str, Any], resolver: Resolver) -> bool:
    params = {p.get("key"): p for p in cond.get("parameter") or []}
    left = resolver.value(params["arg0"]) if "arg0" in params else None
    right = resolver.value(params["arg1"]) if "arg1" in params else None
    negate = "negate" in params and resolver.value(params["negate"]) is True
    ignore_case = "ignore_case" in params and resolver.value(params["ignore_case"]) is True
    a, b = _as_text(left) if left is not None else "undefined", _as_text(right)
    if ignore_case:
        a, b = a.lower(), b.lower()
    kind = cond.get("type")
    result: bool
    if kind == "EQUALS":
        result = a == b
    elif kind == "CONTAINS":
        result = b in a
    elif kind == "STARTS_WITH":
        result = a.startswith(b)
    elif kind == "ENDS_WITH":
        result = a.endswith(b)
    elif kind == "MATCH_REGEX":
        try:
            result = re.search(b, a, re.IGNORECASE if ignore_case else 0) is not None
        except re.error:
            result = False
    else:
        try:
            x, y = float(a), float(b)
        except ValueError:
            return negate  # not numbers: the comparison is false
        result = {
            "LESS": x < y,
            "LESS_OR_EQUALS": x <= y,
            "GREATER": x > y,
            "GREATER_OR_EQUALS": x >= y,
        }[str(kind)]
    return result != negate


class ContainerRuntime:
    """Serves one loaded container: ``handle`` takes a request through clients and tags."""

    def __init__(self, container: Container, env: Environment, timeout: float = 10.0) -> None:
        self.container = container
        self.env = env
        self.timeout = timeout
        env.container_id = container.public_id
        env.container_version = container.version

    def handle(self, request: Request) -> HandledRequest:
        response = Response()
        handled = HandledRequest(response=response, client=None)
        clients = sorted(
            enumerate(self.container.clients), key=lambda item: (-item[1].priority, item[0])
        )
        for _, client in clients:
            template = self.container.templates.get(client.type)
            if template is None:
                continue  # built-in client types are not emulated (warned at start-up)
            claimed = {"yes": False}
            state = RunState(
                template_id=template.id,
                permissions=template.permissions,
                kind="CLIENT",
                env=self.env,
                request=request,
                response=response,
                client_name=client.name,
                claimed=functools.partial(claimed.__getitem__, "yes"),
                claim=functools.partial(claimed.__setitem__, "yes", True),
            )
            state.run_container = lambda event, name, h=handled, r=request, s=state: (
                self._run_event(event, name, r, h, s.messages)
            )
            resolver = Resolver(self, {}, request, client.name)
            try:
                data: dict[str, Any] = {
                    str(p.get("key", "")): resolver.value(p) for p in client.parameters
                }
            except ValueError as exc:
                handled.errors.append(f"client {client.name!r}: {exc}")
                continue
            sandbox = Sandbox(template, state, self.timeout)
            result = sandbox.run(data)
            sandbox.close()
            if result.error:
                handled.errors.append(f"client {client.name!r}: {result.error}")
            if claimed["yes"]:
                handled.client = client.name
                break
        return handled

    def _run_event(
        self,
        event: dict[str, Any],
        client_name: str,
        request: Request,
        handled: HandledRequest,
        messages: MessageBus,
    ) -> dict[str, Any]:
        event = copy.deepcopy(event)
        event_id = self.env.next_id("ev")
        resolver = Resolver(self, event, request, client_name)
        fired: list[tuple[Entity, Sandbox | None, TagRun]] = []
        for tag in self._tags_for(resolver, handled):
            started = time.perf_counter()
            template = self.container.templates.get(tag.type)
            if template is None:
                run = TagRun(
                    tag.name,
                    "not_supported",
                    0.0,
                    f"built-in tag type {tag.type!r} is not supported by the local runtime",
                )
                fired.append((tag, None, run))
                continue
            try:
                data: dict[str, Any] = {
                    str(p.get("key", "")): resolver.value(p) for p in tag.parameters
                }
            except ValueError as exc:
                fired.append((tag, None, TagRun(tag.name, "exception", 0.0, str(exc))))
                continue
            state = RunState(
                template_id=template.id,
                permissions=template.permissions,
                kind="TAG",
                env=self.env,
                request=request,
                response=handled.response,
                event=copy.deepcopy(event),
                event_id=event_id,
                client_name=client_name,
                messages=messages,
            )
            sandbox = Sandbox(template, state, self.timeout)
            result = sandbox.run(data)
            elapsed = (time.perf_counter() - started) * 1000.0
            if result.error:
                status = "timeout" if "stopped" in result.error else "exception"
            elif result.outcome is None:
                status, result.error = (
                    "failure",
                    "the tag never called gtmOnSuccess or gtmOnFailure",
                )
            else:
                status = result.outcome
            fired.append((tag, sandbox, TagRun(tag.name, status, elapsed, result.error)))
        handled.tags.extend(run for _, _, run in fired)
        summary = {"tags": [self._tag_entry(tag, run, resolver) for tag, _, run in fired]}
        payload = json.dumps(summary)
        for _, ran, _ in fired:
            if ran is not None:
                known = len(ran.errors)
                ran.call("__sgtm_fire_event_callbacks", event_id, self.container.public_id, payload)
                ran.settle()
                for error in ran.errors[known:]:
                    handled.errors.append(f"event callback: {error}")
                ran.close()
        return {"containerId": self.container.public_id, "eventData": summary}

    @staticmethod
    def _tag_entry(tag: Entity, run: TagRun, resolver: Resolver) -> dict[str, Any]:
        # What addEventCallback sees per tag: id, status, executionTime, plus the tag's
        # additional metadata (and its name under monitoringMetadataTagNameKey when set).
        entry: dict[str, Any] = {}
        for item in tag.metadata:
            try:
                entry[str(item.get("key"))] = resolver.value(item)
            except ValueError:
                entry[str(item.get("key"))] = None
        if tag.metadata_name_key:
            entry[tag.metadata_name_key] = tag.name
        entry.update({"id": tag.id, "status": run.status, "executionTime": round(run.duration_ms)})
        return entry

    def _tags_for(self, resolver: Resolver, handled: HandledRequest) -> list[Entity]:
        matched: dict[str, bool] = {}

        def fires(trigger_id: str) -> bool:
            if trigger_id not in matched:
                trig = self.container.triggers.get(trigger_id)
                try:
                    matched[trigger_id] = trig is not None and all(
                        condition_holds(c, resolver) for c in trig.conditions
                    )
                except ValueError as exc:
                    handled.errors.append(f"trigger {trigger_id}: {exc}")
                    matched[trigger_id] = False
            return matched[trigger_id]

        selected = [
            (i, tag)
            for i, tag in enumerate(self.container.tags)
            if not tag.paused
            and any(fires(t) for t in tag.firing)
            and not any(fires(t) for t in tag.blocking)
        ]
        selected.sort(key=lambda item: (-item[1].priority, item[0]))
        return [tag for _, tag in selected]

    def run_variable(self, var: Entity, resolver: Resolver) -> Any:
        template = self.container.templates[var.type]
        data: dict[str, Any] = {str(p.get("key", "")): resolver.value(p) for p in var.parameters}
        state = RunState(
            template_id=template.id,
            permissions=template.permissions,
            kind="MACRO",
            env=self.env,
            request=resolver.request,
            event=copy.deepcopy(resolver.event),
            client_name=resolver.client_name,
        )
        result = run_template(template, data, state, self.timeout)
        if result.error:
            raise ValueError(f"variable {var.name!r}: {result.error}")
        return result.value
