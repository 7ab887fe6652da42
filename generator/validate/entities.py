"""The entity arrays of a containerVersion and how to name an entity in a finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    key: str  # the containerVersion array, e.g. "tag"
    schema: str  # its discovery schema, e.g. "Tag"
    id_field: str | None  # e.g. "tagId"; built-in variables have none


# Export key order (gtm-container.md 1.2), so findings come out in the order of the file.
KINDS: tuple[Kind, ...] = (
    Kind("tag", "Tag", "tagId"),
    Kind("trigger", "Trigger", "triggerId"),
    Kind("variable", "Variable", "variableId"),
    Kind("folder", "Folder", "folderId"),
    Kind("builtInVariable", "BuiltInVariable", None),
    Kind("customTemplate", "CustomTemplate", "templateId"),
    Kind("client", "Client", "clientId"),
    Kind("transformation", "Transformation", "transformationId"),
    Kind("zone", "Zone", "zoneId"),
    Kind("gtagConfig", "GtagConfig", "gtagConfigId"),
)
BY_KEY = {kind.key: kind for kind in KINDS}


def label(kind: Kind, entity: Any, index: int) -> str:
    """``tag "GA4 purchase" (tagId 12)``; falls back to the array index when a part is missing."""
    if not isinstance(entity, dict):
        return f"{kind.key}[{index}]"
    name = entity.get("name")
    head = (
        f"{kind.key} {_quote(name)}" if isinstance(name, str) and name else f"{kind.key}[{index}]"
    )
    if kind.id_field is None:
        kind_code = entity.get("type")
        return f"{head} ({kind_code})" if isinstance(kind_code, str) else head
    ident = entity.get(kind.id_field)
    if isinstance(ident, str | int) and not isinstance(ident, bool):
        return f"{head} ({kind.id_field} {ident})"
    return head


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
