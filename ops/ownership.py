"""How sgtm-companion recognises the Tag Manager entities it created.

The API has no labels, so ownership is a marker line in a field that survives the API round
trip: ``notes`` for tags, triggers, variables, clients, folders and transformations, and the
``___NOTES___`` section of ``templateData`` for custom templates (templates have no notes
field). ``sgtm push`` updates and deletes only entities carrying the marker; everything else
in the workspace is somebody else's and is left alone.
"""

from __future__ import annotations

import re
from typing import Any

MARKER = "managed-by: sgtm-companion"
_SECTION = re.compile(r"^___([A-Z_]+?)___[ \t]*\r?$", re.MULTILINE)


def mark_notes(notes: str | None) -> str:
    notes = (notes or "").rstrip()
    if MARKER in notes:
        return notes
    return f"{notes}\n\n{MARKER}" if notes else MARKER


def template_notes(template_data: str) -> str | None:
    """The text of the ``___NOTES___`` section, or None when there is none."""
    markers = list(_SECTION.finditer(template_data))
    for i, match in enumerate(markers):
        if match.group(1) == "NOTES":
            end = markers[i + 1].start() if i + 1 < len(markers) else len(template_data)
            return template_data[match.end() : end]
    return None


def mark_template(template_data: str) -> str:
    notes = template_notes(template_data)
    if notes is not None and MARKER in notes:
        return template_data
    if notes is None:
        return template_data.rstrip("\n") + f"\n\n\n___NOTES___\n\n{MARKER}\n"
    # Append to the existing notes section, wherever it sits in the file.
    start = template_data.index(notes, template_data.index("___NOTES___"))
    body = notes.rstrip("\n")
    tail = notes[len(body) :] or "\n"
    return template_data[:start] + body + f"\n{MARKER}" + tail + template_data[start + len(notes) :]


def is_managed(resource: dict[str, Any], *, template: bool = False) -> bool:
    if template:
        notes = template_notes(str(resource.get("templateData") or ""))
        return notes is not None and MARKER in notes
    return MARKER in str(resource.get("notes") or "")
