"""The `.tpl` custom template format: split into sections, parse each, and write it back.

A `.tpl` file is UTF-8 text made of sections, each opened by a marker line ``___NAME___``.
Editor exports start with a BOM, use LF line endings and put one blank line after a marker and
two before the next one. ``parse_tpl`` accepts any of that loosely (BOM or not, CRLF or LF) and
reports problems with the 1-based line of the file they are on; ``render_tpl`` writes the
editor's exact byte layout so generated templates look like exported ones.

This module is shared by the generator (which writes templates), the container validator
(which checks ``templateData``) and the template runtime (which runs them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

BOM = "\ufeff"
MARKER = re.compile(r"^___([A-Z_]+?)___[ \t]*$")

# Every section seen in real exports, in the editor's order. Web templates use the two WEB
# variants in place of the SERVER ones.
KNOWN_SECTIONS = (
    "TERMS_OF_SERVICE",
    "INFO",
    "TEMPLATE_PARAMETERS",
    "SANDBOXED_JS_FOR_SERVER",
    "SANDBOXED_JS_FOR_WEB_TEMPLATE",
    "SERVER_PERMISSIONS",
    "WEB_PERMISSIONS",
    "TESTS",
    "NOTES",
)
REQUIRED_SECTIONS = ("INFO", "TEMPLATE_PARAMETERS")
TEMPLATE_TYPES = ("TAG", "CLIENT", "MACRO")


class TplError(ValueError):
    """A template that cannot be read; ``str()`` is ``source:line: message``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(f"{source}:{line}: {message}")


@dataclass(frozen=True)
class Section:
    name: str
    text: str
    line: int  # 1-based file line of the section's first content line


@dataclass(frozen=True)
class Tpl:
    source: str
    sections: dict[str, Section]
    info: dict[str, Any]
    parameters: list[dict[str, Any]]
    code: str
    code_line: int  # file line where ``code`` starts, to map engine errors back to the file
    permissions: list[dict[str, Any]]
    tests: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    # Things GTM's import tolerates but a reader should know, as ``source:line: message``.
    warnings: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        return str(self.info.get("type", ""))

    @property
    def display_name(self) -> str:
        return str(self.info.get("displayName", ""))

    @property
    def context(self) -> str:
        """``SERVER`` or ``WEB``: which sandbox the code is written for."""
        return "WEB" if "SANDBOXED_JS_FOR_WEB_TEMPLATE" in self.sections else "SERVER"

    def permission(self, public_id: str) -> dict[str, Any] | None:
        """The decoded params of one permission (``{key: python value}``), or None if absent."""
        for entry in self.permissions:
            key = entry.get("instance", {}).get("key", {})
            if key.get("publicId") == public_id:
                return {
                    p.get("key"): decode_value(p.get("value"))
                    for p in entry["instance"].get("param", []) or []
                }
        return None

    @property
    def permission_ids(self) -> list[str]:
        return [e.get("instance", {}).get("key", {}).get("publicId", "") for e in self.permissions]


def split_sections(text: str, source: str = "<template>") -> dict[str, Section]:
    """Split the raw text into sections; text before the first marker is left out."""
    return _split(text, source)[0]


def _split(text: str, source: str) -> tuple[dict[str, Section], Section | None]:
    """The sections, and the non-blank text before the first marker if there is any.

    Publishers put licence comments above ``___INFO___`` and tell users to import the file in
    the GTM editor, so that text is not an error; the caller reports it as a warning."""
    if text.startswith(BOM):
        text = text[1:]
    leading: list[tuple[int, str]] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections: dict[str, Section] = {}
    current: str | None = None
    start = 0
    body: list[str] = []

    def close() -> None:
        if current is not None:
            sections[current] = Section(current, "\n".join(body).strip("\n"), start)

    for number, line in enumerate(lines, start=1):
        match = MARKER.match(line)
        if match:
            close()
            current = match.group(1)
            if current not in KNOWN_SECTIONS:
                raise TplError(source, number, f"unknown section marker ___{current}___")
            if current in sections:
                raise TplError(source, number, f"section ___{current}___ appears twice")
            body = []
            start = number + 1
            continue
        if current is None:
            if line.strip():
                leading.append((number, line))
            continue
        if not body and not line.strip():
            start = number + 1  # skip the blank line(s) after the marker
            continue
        body.append(line)
    close()
    if not sections:
        raise TplError(source, 1, "no ___SECTION___ markers: not a .tpl template")
    if not leading:
        return sections, None
    return sections, Section("", "\n".join(line for _, line in leading), leading[0][0])


def parse_tpl(text: str, source: str = "<template>") -> Tpl:
    """Parse a whole template; the first problem found raises ``TplError``."""
    sections, leading = _split(text, source)
    warnings: tuple[str, ...] = ()
    if leading is not None:
        first = next(iter(sections))
        count = leading.text.count("\n") + 1
        warnings = (
            f"{source}:{leading.line}: {count} line(s) of text before ___{first}___ "
            "(a licence comment?) are not part of any section and are ignored",
        )
    for name in REQUIRED_SECTIONS:
        if name not in sections:
            raise TplError(source, 1, f"missing required section ___{name}___")
    code_section = sections.get("SANDBOXED_JS_FOR_SERVER") or sections.get(
        "SANDBOXED_JS_FOR_WEB_TEMPLATE"
    )
    if code_section is None:
        raise TplError(source, 1, "missing ___SANDBOXED_JS_FOR_SERVER___ section")

    info = _json(sections["INFO"], source)
    if not isinstance(info, dict):
        raise TplError(source, sections["INFO"].line, "___INFO___ must be a JSON object")
    if info.get("type") not in TEMPLATE_TYPES:
        raise TplError(
            source,
            _line_of(sections["INFO"], '"type"'),
            f"___INFO___ type {info.get('type')!r} is not one of {', '.join(TEMPLATE_TYPES)}",
        )
    parameters = _json(sections["TEMPLATE_PARAMETERS"], source)
    if not isinstance(parameters, list):
        raise TplError(
            source, sections["TEMPLATE_PARAMETERS"].line, "___TEMPLATE_PARAMETERS___ must be a list"
        )
    perm_section = sections.get("SERVER_PERMISSIONS") or sections.get("WEB_PERMISSIONS")
    permissions: list[dict[str, Any]] = []
    if perm_section is not None and perm_section.text.strip():
        permissions = _json(perm_section, source)
        if not isinstance(permissions, list):
            raise TplError(source, perm_section.line, "permissions section must be a JSON list")
    tests: dict[str, Any] = {}
    if "TESTS" in sections and sections["TESTS"].text.strip():
        tests = _yaml(sections["TESTS"], source)
    return Tpl(
        source=source,
        sections=sections,
        info=info,
        parameters=parameters,
        code=code_section.text,
        code_line=code_section.line,
        permissions=permissions,
        tests=tests,
        notes=sections["NOTES"].text if "NOTES" in sections else "",
        warnings=warnings,
    )


def _line_of(section: Section, needle: str) -> int:
    """The file line of the first line of a section that contains ``needle``."""
    for offset, line in enumerate(section.text.split("\n")):
        if needle in line:
            return section.line + offset
    return section.line


def _json(section: Section, source: str) -> Any:
    try:
        return json.loads(section.text)
    except json.JSONDecodeError as exc:
        raise TplError(
            source,
            section.line + exc.lineno - 1,
            f"___{section.name}___ is not valid JSON: {exc.msg} (column {exc.colno})",
        ) from None


def _yaml(section: Section, source: str) -> dict[str, Any]:
    # ruamel.yaml costs ~0.2 s to import: only a .tpl's tests section needs it.
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    try:
        data = YAML(typ="safe", pure=True).load(section.text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = section.line + (mark.line if mark is not None else 0)
        raise TplError(source, line, f"___TESTS___ is not valid YAML: {exc.problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TplError(source, section.line, "___TESTS___ must be a YAML mapping")
    scenarios = data.get("scenarios", [])
    if scenarios is not None and not isinstance(scenarios, list):
        raise TplError(source, section.line, "___TESTS___ scenarios must be a list")
    return data


def decode_value(value: Any) -> Any:
    """Decode a permission param value (GTM's typed Parameter encoding) into Python."""
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    if kind == 1:
        return value.get("string", "")
    if kind == 2:
        return [decode_value(v) for v in value.get("listItem", []) or []]
    if kind == 3:
        keys = [decode_value(k) for k in value.get("mapKey", []) or []]
        vals = [decode_value(v) for v in value.get("mapValue", []) or []]
        return dict(zip(keys, vals, strict=False))
    if kind == 8:
        return bool(value.get("boolean", False))
    return value


def encode_value(value: Any) -> dict[str, Any]:
    """The inverse of ``decode_value``: Python values to GTM's typed Parameter encoding."""
    if isinstance(value, bool):
        return {"type": 8, "boolean": value}
    if isinstance(value, str):
        return {"type": 1, "string": value}
    if isinstance(value, dict):
        return {
            "type": 3,
            "mapKey": [encode_value(str(k)) for k in value],
            "mapValue": [encode_value(v) for v in value.values()],
        }
    if isinstance(value, list | tuple):
        return {"type": 2, "listItem": [encode_value(v) for v in value]}
    raise TypeError(f"cannot encode {type(value).__name__} as a permission value")


def render_tpl(
    *,
    info: dict[str, Any],
    parameters: list[dict[str, Any]],
    code: str,
    permissions: list[dict[str, Any]],
    tests: str,
    notes: str,
) -> str:
    """Write a server template in the editor's byte layout (BOM, LF, blank-line spacing).

    ``tests`` is the YAML text of ``___TESTS___`` (kept as text so its formatting is the
    generator's choice); everything else is serialised here.
    """
    parts = [
        ("INFO", _dump(info)),
        ("TEMPLATE_PARAMETERS", _dump(parameters)),
        ("SANDBOXED_JS_FOR_SERVER", code.strip("\n")),
        ("SERVER_PERMISSIONS", _dump(permissions)),
        ("TESTS", tests.strip("\n")),
        ("NOTES", notes.strip("\n")),
    ]
    out = BOM + "\n"
    out += "\n\n\n".join(f"___{name}___\n\n{body}" for name, body in parts)
    return out + "\n\n\n"


def template_data(tpl_text: str) -> str:
    """A ``.tpl`` as a container export's ``templateData`` carries it.

    Editor ``.tpl`` downloads start with a BOM and a blank line (``render_tpl`` writes that);
    the ``templateData`` of the real server exports (all 78 templates of
    ``../shared/corpus/gtm-containers/``) has neither: it starts at the first marker."""
    return tpl_text.removeprefix(BOM).lstrip("\n")


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
