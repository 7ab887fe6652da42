"""Reading a container export (``container.json``) into the entities ``sgtm push`` reconciles.

Every problem is reported as ``FILE: /json/pointer: why`` (or ``FILE:LINE:COL`` for JSON that
does not parse), all of them at once, before anything is sent to the API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.spelling import SpellingError, to_api


@dataclass(frozen=True)
class Kind:
    key: str  # array name in containerVersion
    schema: str  # discovery schema name
    resource: str  # API collection (method group) name
    id_field: str
    label: str
    list_key: str = ""  # array name in API list responses, when it differs from ``key``

    @property
    def items_key(self) -> str:
        return self.list_key or self.key


# Push order: everything an entity refers to by id exists before it.
TEMPLATE = Kind(
    "customTemplate", "CustomTemplate", "templates", "templateId", "template", "template"
)
FOLDER = Kind("folder", "Folder", "folders", "folderId", "folder")
VARIABLE = Kind("variable", "Variable", "variables", "variableId", "variable")
TRIGGER = Kind("trigger", "Trigger", "triggers", "triggerId", "trigger")
CLIENT = Kind("client", "Client", "clients", "clientId", "client")
TAG = Kind("tag", "Tag", "tags", "tagId", "tag")
TRANSFORMATION = Kind(
    "transformation", "Transformation", "transformations", "transformationId", "transformation"
)
KINDS: tuple[Kind, ...] = (TEMPLATE, FOLDER, VARIABLE, TRIGGER, CLIENT, TAG, TRANSFORMATION)

# Fields the API owns (identity, concurrency, links); never part of what we compare or send.
OUTPUT_FIELDS = frozenset(
    {"path", "accountId", "containerId", "workspaceId", "fingerprint", "tagManagerUrl"}
)
UNSUPPORTED_KEYS = ("zone", "gtagConfig")
# GTM's built-in triggers (All Pages, Initialization, ...) live at the top of the id space and
# never appear in trigger[]; they are the same in every container and pass through unchanged.
BUILT_IN_TRIGGER_MIN = 2147479552
_CVT = re.compile(r"^cvt_(?:(\d+)_(\d+)|([A-Za-z0-9]+))$")


class ExportError(ValueError):
    """The export cannot be pushed; ``problems`` are complete ``where: why`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Entity:
    kind: Kind
    name: str
    body: dict[str, Any]  # API spelling; references still hold the export's ids
    pointer: str


@dataclass(frozen=True)
class ContainerExport:
    source: str
    entities: dict[str, list[Entity]]  # by Kind.key, in file order
    built_ins: tuple[tuple[str, str], ...]  # (API type, display name)
    trigger_names: dict[str, str]  # export trigger id -> name
    folder_names: dict[str, str]  # export folder id -> name
    template_names: dict[str, str]  # cvt_ type code (both shapes) -> template name
    version_text: str  # containerVersion description / name / container notes, for --publish
    usage_context: tuple[str, ...] = field(default=())

    def count(self) -> int:
        return sum(len(v) for v in self.entities.values()) + len(self.built_ins)


def is_built_in_trigger(trigger_id: str) -> bool:
    return trigger_id.isdigit() and int(trigger_id) >= BUILT_IN_TRIGGER_MIN


def load_export(path: str | Path) -> ContainerExport:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ExportError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ExportError([f"{source}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError([f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
    return parse_export(doc, source)


def parse_export(doc: Any, source: str) -> ContainerExport:
    problems: list[str] = []

    def bad(where: str, why: str) -> None:
        problems.append(f"{source}: {where}: {why}")

    if not isinstance(doc, dict):
        raise ExportError([f"{source}: /: expected a container export object"])
    if doc.get("exportFormatVersion") != 2:
        bad("/exportFormatVersion", f"must be 2, got {json.dumps(doc.get('exportFormatVersion'))}")
    cv = doc.get("containerVersion")
    if not isinstance(cv, dict):
        bad("/containerVersion", "missing or not an object")
        raise ExportError(problems)
    for key in UNSUPPORTED_KEYS:
        if cv.get(key):
            bad(f"/containerVersion/{key}", "not supported by sgtm push (web-only entities)")

    raw: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind in KINDS:
        items = cv.get(kind.key, [])
        if not isinstance(items, list):
            bad(f"/containerVersion/{kind.key}", "must be an array")
            items = []
        seen: dict[str, str] = {}
        raw[kind.key] = []
        for i, item in enumerate(items):
            where = f"/containerVersion/{kind.key}/{i}"
            if not isinstance(item, dict):
                bad(where, f"expected a {kind.label} object")
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                bad(f"{where}/name", f"every {kind.label} needs a non-empty name")
                continue
            if name in seen:
                bad(f"{where}/name", f"duplicate {kind.label} name {name!r} (also at {seen[name]})")
                continue
            seen[name] = where
            raw[kind.key].append((where, item))

    def names_by_id(kind: Kind) -> dict[str, str]:
        return {
            str(item[kind.id_field]): item["name"]
            for _, item in raw[kind.key]
            if item.get(kind.id_field) is not None
        }

    trigger_names = names_by_id(TRIGGER)
    folder_names = names_by_id(FOLDER)
    template_names: dict[str, str] = {}
    for _, item in raw[TEMPLATE.key]:
        tid, cid = item.get("templateId"), item.get("containerId")
        if tid is not None:
            template_names[f"cvt_{cid}_{tid}"] = item["name"]
        gallery_id = (item.get("galleryReference") or {}).get("galleryTemplateId")
        if gallery_id:
            template_names[f"cvt_{gallery_id}"] = item["name"]

    entities: dict[str, list[Entity]] = {}
    for kind in KINDS:
        entities[kind.key] = []
        for where, item in raw[kind.key]:
            body = {
                k: v
                for k, v in item.items()
                if k not in OUTPUT_FIELDS and k != kind.id_field and k != "galleryReference"
            }
            try:
                body = to_api(kind.schema, body, where)
            except SpellingError as exc:
                for pointer, why in exc.problems:
                    bad(pointer, why)
                continue
            _check_references(kind, body, where, trigger_names, folder_names, template_names, bad)
            entities[kind.key].append(Entity(kind, item["name"], body, where))

    built_ins: list[tuple[str, str]] = []
    for i, item in enumerate(cv.get("builtInVariable", []) or []):
        where = f"/containerVersion/builtInVariable/{i}"
        try:
            api = to_api("BuiltInVariable", {"type": item.get("type")}, where)
        except SpellingError as exc:
            for pointer, why in exc.problems:
                bad(pointer, why)
            continue
        built_ins.append((api["type"], str(item.get("name") or api["type"])))

    if problems:
        raise ExportError(problems)
    container: dict[str, Any] = cv["container"] if isinstance(cv.get("container"), dict) else {}
    version_text = "\n".join(
        str(t)
        for t in (cv.get("description"), cv.get("name"), container.get("notes"))
        if isinstance(t, str) and t.strip()
    )
    return ContainerExport(
        source=source,
        entities=entities,
        built_ins=tuple(built_ins),
        trigger_names=trigger_names,
        folder_names=folder_names,
        template_names=template_names,
        version_text=version_text,
        usage_context=tuple(container.get("usageContext") or ()),
    )


def _check_references(kind, body, where, trigger_names, folder_names, template_names, bad):
    for field_name in ("firingTriggerId", "blockingTriggerId"):
        for i, tid in enumerate(body.get(field_name) or []):
            if str(tid) not in trigger_names and not is_built_in_trigger(str(tid)):
                bad(f"{where}/{field_name}/{i}", f"trigger id {tid!r} is not in trigger[]")
    folder = body.get("parentFolderId")
    if folder is not None and str(folder) not in folder_names:
        bad(f"{where}/parentFolderId", f"folder id {folder!r} is not in folder[]")
    entity_type = body.get("type")
    if (
        kind in (TAG, VARIABLE, CLIENT)
        and isinstance(entity_type, str)
        and _CVT.match(entity_type)
        and entity_type not in template_names
    ):
        bad(f"{where}/type", f"custom template type {entity_type!r} has no customTemplate entry")
