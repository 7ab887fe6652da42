"""Referential integrity inside one export (gtm-container.md section 0, rule 5).

| from -> to | by |
| tag -> trigger | id (firingTriggerId, blockingTriggerId), TRIGGER_REFERENCE values |
| tag -> tag | name (setupTag, teardownTag, TAG_REFERENCE values) |
| entity -> folder | id (parentFolderId) |
| tag/variable/client -> template | cvt_ type code |
| anything -> variable | name, as {{Variable Name}} inside parameter values |
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from formats import gtm_builtins as builtins
from generator.validate.discovery import load_schemas
from generator.validate.entities import BY_KEY, KINDS, Kind, label
from generator.validate.findings import Collector, path_join, pointer_join
from generator.validate.templates import Template

REFERENCE = re.compile(r"\{\{(.+?)\}\}")

# Which template type each slot takes; the importer refuses the wrong one (gtm-container.md 4).
SLOT_TEMPLATE_TYPE = {"tag": "TAG", "client": "CLIENT", "variable": "MACRO"}
TYPED_KINDS = ("tag", "client", "variable", "transformation")
TRIGGER_ID_FIELDS = (
    "firingTriggerId",
    "blockingTriggerId",
    "enablingTriggerId",
    "disablingTriggerId",
)
# Every trigger of the seven public server exports is CUSTOM_EVENT or ALWAYS; the API adds
# serverPageview for server Page View triggers (gtm-container.md 1.4).
SERVER_TRIGGER_TYPES = frozenset({"CUSTOM_EVENT", "ALWAYS", "SERVER_PAGEVIEW"})
# Names that must be unique because something refers to entities of that kind by name.
UNIQUE_NAMES = ("tag", "trigger", "variable", "client", "customTemplate", "transformation")


@dataclass
class Index:
    trigger_ids: set[str] = field(default_factory=set)
    folder_ids: set[str] = field(default_factory=set)
    tag_names: set[str] = field(default_factory=set)
    variable_names: set[str] = field(default_factory=set)
    builtin_names: set[str] = field(default_factory=set)
    builtin_types: set[str] = field(default_factory=set)


def check_references(
    version: dict[str, Any],
    usage_context: str | None,
    templates: dict[str, Template],
    out: Collector,
    allowed_types: frozenset[str] = frozenset(),
) -> None:
    index = _index(version)
    _check_unique(version, index, out)
    for kind in KINDS:
        for entity, name, pointer in _entities(version, kind):
            if kind.key in TYPED_KINDS:
                _check_type(
                    kind, entity, name, pointer, usage_context, templates, allowed_types, out
                )
            _check_triggers(entity, name, pointer, index, out)
            _check_folder(entity, name, pointer, index, out)
            if kind.key == "tag":
                _check_tag_links(entity, name, pointer, index, out)
            if kind.key == "builtInVariable":
                _check_builtin_name(entity, name, pointer, out)
            if kind.key == "trigger" and usage_context == "SERVER":
                _check_server_trigger(entity, name, pointer, out)
            for path, ptr, param in _parameters(entity, "", pointer):
                _check_parameter(param, name, path, ptr, index, out)


def _entities(version: dict[str, Any], kind: Kind) -> Iterator[tuple[dict[str, Any], str, str]]:
    items = version.get(kind.key)
    if not isinstance(items, list):
        return
    for position, entity in enumerate(items):
        if isinstance(entity, dict):
            pointer = pointer_join("/containerVersion", kind.key, position)
            yield entity, label(kind, entity, position), pointer


def _index(version: dict[str, Any]) -> Index:
    index = Index()
    for entity, _, _ in _entities(version, BY_KEY["trigger"]):
        if isinstance(entity.get("triggerId"), str):
            index.trigger_ids.add(entity["triggerId"])
    for entity, _, _ in _entities(version, BY_KEY["folder"]):
        if isinstance(entity.get("folderId"), str):
            index.folder_ids.add(entity["folderId"])
    for entity, _, _ in _entities(version, BY_KEY["tag"]):
        if isinstance(entity.get("name"), str):
            index.tag_names.add(entity["name"])
    for entity, _, _ in _entities(version, BY_KEY["variable"]):
        if isinstance(entity.get("name"), str):
            index.variable_names.add(entity["name"])
    for entity, _, _ in _entities(version, BY_KEY["builtInVariable"]):
        if isinstance(entity.get("name"), str):
            index.builtin_names.add(entity["name"])
        if isinstance(entity.get("type"), str):
            index.builtin_types.add(entity["type"])
    return index


def _check_unique(version: dict[str, Any], index: Index, out: Collector) -> None:
    for kind in KINDS:
        first_id: dict[str, str] = {}
        first_name: dict[str, str] = {}
        for entity, name, pointer in _entities(version, kind):
            ident = entity.get(kind.id_field) if kind.id_field else entity.get("type")
            id_field = kind.id_field or "type"
            if isinstance(ident, str):
                if ident in first_id:
                    out.add(
                        name,
                        id_field,
                        pointer_join(pointer, id_field),
                        f"duplicate {id_field} {ident!r} (also {first_id[ident]})",
                    )
                else:
                    first_id[ident] = name
            title = entity.get("name")
            if kind.key in UNIQUE_NAMES and isinstance(title, str):
                if title in first_name:
                    out.add(
                        name,
                        "name",
                        pointer_join(pointer, "name"),
                        f"duplicate {kind.key} name {title!r} (also {first_name[title]})",
                    )
                else:
                    first_name[title] = name
            if kind.key == "variable" and isinstance(title, str) and title in index.builtin_names:
                out.add(
                    name,
                    "name",
                    pointer_join(pointer, "name"),
                    f"{title!r} is also the name of an enabled built-in variable, so "
                    f"{{{{{title}}}}} is ambiguous",
                )


def _check_type(
    kind: Kind,
    entity: dict[str, Any],
    name: str,
    pointer: str,
    usage_context: str | None,
    templates: dict[str, Template],
    allowed_types: frozenset[str],
    out: Collector,
) -> None:
    code = entity.get("type")
    if not isinstance(code, str) or code in allowed_types:
        return
    where = pointer_join(pointer, "type")
    if code.startswith("cvt_"):
        template = templates.get(code)
        if template is None:
            known = ", ".join(sorted(templates)) or "none"
            out.add(
                name,
                "type",
                where,
                f"{code!r} does not resolve to a customTemplate in this export "
                f"(by cvt_<containerId>_<templateId> or cvt_<galleryTemplateId>; "
                f"defined: {known})",
            )
            return
        want = SLOT_TEMPLATE_TYPE.get(kind.key)
        if want and template.type and template.type != want:
            out.add(
                name,
                "type",
                where,
                f"{code!r} is {template.label}, a {template.type} template; a {kind.key} "
                f"needs a {want} template",
            )
        return
    if usage_context is None:
        return  # which catalogue applies is unknown; the usageContext finding says why
    context = usage_context
    known_codes = builtins.known_types(kind.key, context)
    if code in known_codes:
        return
    message = f"{code!r} is not a cvt_ template type nor a built-in {kind.key} type known for {context} containers"
    close = difflib.get_close_matches(code, sorted(known_codes), n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if context == "SERVER" and kind.key != "transformation":
        out.add(name, "type", where, message)
    else:
        # The web and transformation catalogues are larger than what the reference lists.
        out.warn(name, "type", where, message)


def _check_triggers(
    entity: dict[str, Any], name: str, pointer: str, index: Index, out: Collector
) -> None:
    for key in TRIGGER_ID_FIELDS:
        ids = entity.get(key)
        if not isinstance(ids, list):
            continue
        for position, trigger_id in enumerate(ids):
            if not isinstance(trigger_id, str):
                continue  # reported by the schema check
            if (
                trigger_id not in index.trigger_ids
                and trigger_id not in builtins.BUILTIN_TRIGGER_IDS
            ):
                out.add(
                    name,
                    f"{key}[{position}]",
                    pointer_join(pointer, key, position),
                    f"trigger id {trigger_id!r} is neither a triggerId in trigger[] nor a "
                    f"built-in trigger id",
                )


def _check_builtin_name(entity: dict[str, Any], name: str, pointer: str, out: Collector) -> None:
    """GTM names built-in variables itself; `{{...}}` must use that name (gtm-container.md 1.4)."""
    kind, title = entity.get("type"), entity.get("name")
    expected = builtins.BUILTIN_VARIABLE_NAMES.get(kind) if isinstance(kind, str) else None
    if expected is not None and isinstance(title, str) and title != expected:
        out.add(
            name,
            "name",
            pointer_join(pointer, "name"),
            f"GTM names the {kind} built-in variable {expected!r}, not {title!r}; "
            f"references must use {{{{{expected}}}}}",
        )


def _check_server_trigger(entity: dict[str, Any], name: str, pointer: str, out: Collector) -> None:
    kind = entity.get("type")
    valid = load_schemas().fields("Trigger")["type"].enum  # invalid values are reported already
    if kind in valid and kind not in SERVER_TRIGGER_TYPES:
        out.warn(
            name,
            "type",
            pointer_join(pointer, "type"),
            f"{kind!r} is a web trigger type; server containers use "
            f"{', '.join(sorted(SERVER_TRIGGER_TYPES))}",
        )


def _check_folder(
    entity: dict[str, Any], name: str, pointer: str, index: Index, out: Collector
) -> None:
    folder = entity.get("parentFolderId")
    if isinstance(folder, str) and folder not in index.folder_ids:
        out.add(
            name,
            "parentFolderId",
            pointer_join(pointer, "parentFolderId"),
            f"folder id {folder!r} is not a folderId in folder[]",
        )


def _check_tag_links(
    entity: dict[str, Any], name: str, pointer: str, index: Index, out: Collector
) -> None:
    for key in ("setupTag", "teardownTag"):
        links = entity.get(key)
        if not isinstance(links, list):
            continue
        if len(links) > 1:
            out.add(
                name,
                key,
                pointer_join(pointer, key),
                f"{len(links)} entries; the API allows only one {key}",
            )
        for position, link in enumerate(links):
            target = link.get("tagName") if isinstance(link, dict) else None
            if not isinstance(target, str):
                continue
            where = f"{key}[{position}].tagName"
            ptr = pointer_join(pointer, key, position, "tagName")
            if target not in index.tag_names:
                out.add(name, where, ptr, f"tag name {target!r} is not the name of a tag in tag[]")
            elif target == entity.get("name"):
                out.add(name, where, ptr, f"a tag cannot be its own {key}")


def _parameters(value: Any, path: str, pointer: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every Parameter-shaped object in an entity: a dict with a string ``type`` and ``value``,
    ``list`` or ``map``. Free text (notes) and templateData are not parameters."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), str) and any(k in value for k in ("value", "list", "map")):
            yield path, pointer, value
        for key, item in value.items():
            if key in ("notes", "templateData", "name"):
                continue
            if isinstance(item, dict | list):
                yield from _parameters(item, path_join(path, key), pointer_join(pointer, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _parameters(item, path_join(path, position), pointer_join(pointer, position))


def _check_parameter(
    param: dict[str, Any], name: str, path: str, pointer: str, index: Index, out: Collector
) -> None:
    raw = param.get("value")
    if not isinstance(raw, str):
        return
    where, ptr = path_join(path, "value"), pointer_join(pointer, "value")
    kind = param.get("type")
    # A weak reference may outlive its target (the Heureka export has seven): only strong
    # references must resolve.
    strong = param.get("isWeakReference") is not True
    if kind == "TAG_REFERENCE" and strong and raw not in index.tag_names:
        out.add(name, where, ptr, f"TAG_REFERENCE {raw!r} is not the name of a tag in tag[]")
    elif kind == "TRIGGER_REFERENCE" and strong and raw not in index.trigger_ids:
        out.add(name, where, ptr, f"TRIGGER_REFERENCE {raw!r} is not a triggerId in trigger[]")
    for ref in REFERENCE.findall(raw):
        _check_variable(ref, name, where, ptr, index, out)


def _check_variable(
    ref: str, name: str, where: str, ptr: str, index: Index, out: Collector
) -> None:
    if ref in index.variable_names or ref in index.builtin_names:
        return
    if ref in builtins.RESERVED_VARIABLES:
        return
    builtin_type = builtins.BUILTIN_VARIABLE_TYPES_BY_NAME.get(ref)
    if builtin_type in index.builtin_types:
        return  # enabled under another name: reported once, on the builtInVariable entry
    if builtin_type is not None:
        out.warn(
            name,
            where,
            ptr,
            f"{{{{{ref}}}}} is the built-in variable {builtin_type}, which is not enabled: "
            f'add {{"type": "{builtin_type}", "name": "{ref}"}} to builtInVariable[]',
        )
        return
    candidates = sorted(index.variable_names | index.builtin_names)
    close = difflib.get_close_matches(ref, candidates, n=1, cutoff=0.8)
    hint = f" (did you mean {{{{{close[0]}}}}}?)" if close else ""
    out.add(
        name,
        where,
        ptr,
        f"{{{{{ref}}}}} does not resolve to a variable or an enabled built-in variable{hint}",
    )
