"""customTemplate checks: each ``templateData`` parses as a .tpl, fits the container, and the
``cvt_...`` type codes that point at it.

Type codes come in two shapes (gtm-container.md section 0, rule 3): ``cvt_<containerId>_<templateId>``
for every template, and ``cvt_<galleryTemplateId>`` for gallery templates whose
``galleryReference`` carries one. Both are indexed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from formats.tpl import TplError, parse_tpl
from generator.validate.entities import BY_KEY, label
from generator.validate.findings import Collector, pointer_join


@dataclass(frozen=True)
class Template:
    label: str  # e.g. customTemplate "Data Client" (templateId 100)
    type: str | None  # ___INFO___ type (TAG, CLIENT, MACRO); None when templateData is broken


def check_templates(
    version: dict[str, Any], usage_context: str | None, out: Collector
) -> dict[str, Template]:
    """Parse every template, report problems, and return the type-code index."""
    index: dict[str, Template] = {}
    templates = version.get("customTemplate")
    if not isinstance(templates, list):
        return index
    kind = BY_KEY["customTemplate"]
    for position, entry in enumerate(templates):
        if not isinstance(entry, dict):
            continue
        name = label(kind, entry, position)
        pointer = pointer_join("/containerVersion/customTemplate", position)
        template = Template(name, _parse(entry, name, pointer, usage_context, out))
        container_id = entry.get("containerId", version.get("containerId"))
        template_id = entry.get("templateId")
        if isinstance(container_id, str) and isinstance(template_id, str):
            index.setdefault(f"cvt_{container_id}_{template_id}", template)
        gallery = entry.get("galleryReference")
        if isinstance(gallery, dict) and isinstance(gallery.get("galleryTemplateId"), str):
            index.setdefault(f"cvt_{gallery['galleryTemplateId']}", template)
    return index


def _parse(
    entry: dict[str, Any], name: str, pointer: str, usage_context: str | None, out: Collector
) -> str | None:
    text = entry.get("templateData")
    if not isinstance(text, str):
        return None  # missing or mistyped: already reported by the schema check
    where = pointer_join(pointer, "templateData")
    result = _parse_text(text)
    if isinstance(result, TplError):
        out.add(name, "templateData", where, f"line {result.line}: {result.message}")
        return None
    info_type, contexts = result
    # A server template in a web container (or the reverse) imports but cannot be used:
    # "Invalid input in Template Preview" (gtm-container.md section 4).
    if usage_context and isinstance(contexts, list) and usage_context not in contexts:
        out.add(
            name,
            "templateData",
            where,
            f"___INFO___ containerContexts {json.dumps(contexts)} does not include this container's "
            f"usageContext {usage_context}",
        )
    return info_type


@lru_cache(maxsize=512)
def _parse_text(text: str) -> tuple[str, Any] | TplError:
    """What the checks need from one templateData, cached: the same template text recurs
    across the containers a test suite or a `sgtm push` validates, and YAML parsing dominates."""
    try:
        tpl = parse_tpl(text, source="templateData")
    except TplError as exc:
        return exc
    return tpl.type, tpl.info.get("containerContexts")
