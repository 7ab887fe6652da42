"""Validate a container export: the wrapper, every entity's shape, templates and references.

``validate_container(data, source)`` is the Python API (the generator's golden tests and
``sgtm push`` call it); ``load_export(path)`` reads a file and turns unreadable JSON into findings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from generator.validate.credentials import check_credentials
from generator.validate.discovery import load_schemas
from generator.validate.entities import BY_KEY, label
from generator.validate.findings import ERROR, Collector, Finding, pointer_join
from generator.validate.jsonfile import parse_export_text
from generator.validate.references import check_references
from generator.validate.schema import SchemaChecker, describe
from generator.validate.templates import check_templates

EXPORT_FORMAT_VERSION = 2
EXPORT_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
TOP_LEVEL = ("exportFormatVersion", "exportTime", "containerVersion")
API_RESOURCE_KEYS = frozenset({"containerVersionId", "container", "tag", "trigger", "variable"})
# Entity arrays that only server containers have (container.features: supportClients and
# supportTransformations are false for WEB; gtm-container.md 1.3).
SERVER_ONLY = ("client", "transformation")


def validate_container(
    data: Any, source: str = "<container>", *, allowed_types: frozenset[str] = frozenset()
) -> list[Finding]:
    """Every finding for one parsed export, in a stable order (file order within each pass).

    ``allowed_types`` are extra built-in type codes to accept (tag/variable/client types this
    validator does not know). Errors have ``severity == "error"``; the export is valid when none.
    """
    out = Collector(source)
    if not isinstance(data, dict):
        out.add(
            "export", "", "", f"must be a JSON object with containerVersion, not {describe(data)}"
        )
        return out.findings
    checker = SchemaChecker(load_schemas(), out)
    if "containerVersion" not in data and API_RESOURCE_KEYS & data.keys():
        # versions.get output (or a hand-made file modelled on it): one clear finding instead
        # of an "unknown top-level field" per key.
        out.add(
            "export",
            "",
            "",
            "this is a Tag Manager API ContainerVersion resource, not a container export: wrap "
            'it as {"exportFormatVersion": 2, "exportTime": "YYYY-MM-DD HH:MM:SS", '
            '"containerVersion": {...}} with enum values in export spelling (UPPER_SNAKE)',
        )
        return out.findings
    _check_wrapper(data, out)
    version = data.get("containerVersion")
    if not isinstance(version, dict):
        return out.findings
    usage_context = _check_version(version, checker, out)
    templates = check_templates(version, usage_context, out)
    check_references(version, usage_context, templates, out, allowed_types)
    check_credentials(version, out)
    return out.findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def validate_file(
    path: Path, source: str | None = None, *, allowed_types: frozenset[str] = frozenset()
) -> list[Finding]:
    """``load_export`` then ``validate_container``: every finding for one file.

    Raises OSError when the file cannot be read at all.
    """
    data, findings = load_export(path, source)
    if data is not None:
        findings += validate_container(data, source or str(path), allowed_types=allowed_types)
    return findings


def load_export(path: Path, source: str | None = None) -> tuple[Any, list[Finding]]:
    """Read and parse a file; JSON syntax errors and duplicate keys are findings with line:column.

    Raises OSError when the file cannot be read at all (a usage problem, not an invalid export).
    """
    name = source or str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Finding(name, "", "", f"not UTF-8 text (byte {exc.start})", "", ERROR, 1, 1)]
    return parse_export_text(text, name)


def _check_wrapper(data: dict[str, Any], out: Collector) -> None:
    for key in data:
        if key not in TOP_LEVEL:
            out.add(
                "export",
                key,
                pointer_join("", key),
                f"unknown top-level field '{key}' (an export has only {', '.join(TOP_LEVEL)})",
            )
    version = data.get("exportFormatVersion")
    if "exportFormatVersion" not in data:
        out.add(
            "export",
            "exportFormatVersion",
            "/exportFormatVersion",
            "missing required field 'exportFormatVersion'",
        )
    elif type(version) is not int or version != EXPORT_FORMAT_VERSION:
        out.add(
            "export",
            "exportFormatVersion",
            "/exportFormatVersion",
            f"must be the JSON integer {EXPORT_FORMAT_VERSION}, not {describe(version)}",
        )
    stamp = data.get("exportTime")
    if "exportTime" not in data:
        out.warn(
            "export",
            "exportTime",
            "/exportTime",
            "missing 'exportTime' (real exports write 'YYYY-MM-DD HH:MM:SS')",
        )
    elif not isinstance(stamp, str) or not EXPORT_TIME.fullmatch(stamp):
        out.add(
            "export",
            "exportTime",
            "/exportTime",
            f"must be 'YYYY-MM-DD HH:MM:SS' (local time, no zone), not {describe(stamp)}",
        )
    if "containerVersion" not in data:
        out.add(
            "export",
            "containerVersion",
            "/containerVersion",
            "missing required field 'containerVersion'",
        )
    elif not isinstance(data["containerVersion"], dict):
        out.add(
            "export",
            "containerVersion",
            "/containerVersion",
            f"must be an object (ContainerVersion), not {describe(data['containerVersion'])}",
        )


def _check_version(version: dict[str, Any], checker: SchemaChecker, out: Collector) -> str | None:
    """Shape of containerVersion and each entity; returns the usage context (SERVER, WEB...)."""
    fields = checker.schemas.fields("ContainerVersion")
    if "container" not in version:
        out.add(
            "containerVersion",
            "container",
            "/containerVersion/container",
            "missing required field 'container'",
        )
    for key, value in version.items():
        pointer = pointer_join("/containerVersion", key)
        kind = BY_KEY.get(key)
        if kind is not None:
            if not isinstance(value, list):
                out.add(
                    "containerVersion",
                    key,
                    pointer,
                    f"must be an array of {kind.schema}, not {describe(value)}",
                )
                continue
            for position, entity in enumerate(value):
                checker.check(
                    entity,
                    kind.schema,
                    label(kind, entity, position),
                    "",
                    pointer_join(pointer, position),
                )
        elif key == "container":
            checker.check(value, "Container", "container", "", pointer)
        elif key in fields:
            checker.check_field(value, "ContainerVersion", key, "containerVersion", key, pointer)
        else:
            checker.check_unknown(key, "ContainerVersion", "containerVersion", key, pointer)
    usage_context = _usage_context(version)
    if usage_context is not None and usage_context != "SERVER":
        for key in SERVER_ONLY:
            if version.get(key):
                out.add(
                    "containerVersion",
                    key,
                    pointer_join("/containerVersion", key),
                    f"a {usage_context} container has no {key} entities (only SERVER "
                    f"containers support them)",
                )
    return usage_context


def _usage_context(version: dict[str, Any]) -> str | None:
    """SERVER, WEB, ...; None when missing or misspelled (reported already), which turns off
    the checks that depend on it rather than stacking findings on a wrong guess."""
    container = version.get("container")
    contexts = container.get("usageContext") if isinstance(container, dict) else None
    valid = load_schemas().fields("Container")["usageContext"].items
    assert valid is not None
    if isinstance(contexts, list) and contexts and contexts[0] in valid.enum:
        return str(contexts[0])
    return None
