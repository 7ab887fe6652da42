"""Credential constants left empty: the tag would send no secret (GA4 got ``api_secret=null``).

sgtm-companion's tag templates read each credential from one field (``apiSecret``,
``accessToken``, ``developerToken``, ``bearerToken``), which the generated container fills with
``{{<ENV NAME>}}``, an empty Constant variable to fill in GTM after import. An export whose
credential field is empty, or names an empty constant, is importable but cannot deliver: a
warning, not an error (``sgtm dev`` fills an empty constant from the environment variable of
the same name, so a local export is legitimately empty).
"""

from __future__ import annotations

from typing import Any

from generator.validate.entities import BY_KEY, label
from generator.validate.findings import Collector, path_join, pointer_join
from generator.validate.references import REFERENCE

# Template field -> whether the tag cannot work without it.
CREDENTIAL_FIELDS = {
    "apiSecret": True,
    "accessToken": True,
    "developerToken": True,
    "bearerToken": False,
}


def _constants(version: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for variable in _list(version.get("variable")):
        if not isinstance(variable, dict) or variable.get("type") != "c":
            continue
        value = next(
            (
                p.get("value")
                for p in _list(variable.get("parameter"))
                if isinstance(p, dict) and p.get("key") == "value"
            ),
            "",
        )
        if isinstance(variable.get("name"), str):
            out[variable["name"]] = value if isinstance(value, str) else ""
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_credentials(version: dict[str, Any], out: Collector) -> None:
    constants = _constants(version)
    tags = version.get("tag")
    if not isinstance(tags, list):
        return
    for position, tag in enumerate(tags):
        if not isinstance(tag, dict):
            continue
        name = label(BY_KEY["tag"], tag, position)
        for index, param in enumerate(_list(tag.get("parameter"))):
            if not isinstance(param, dict) or not isinstance(param.get("key"), str):
                continue
            if param["key"] not in CREDENTIAL_FIELDS:
                continue
            value = param.get("value")
            if not isinstance(value, str):
                continue
            where = path_join(path_join("parameter", index), "value")
            ptr = pointer_join("/containerVersion", "tag", position, "parameter", index, "value")
            key = param["key"]
            if not value.strip() and CREDENTIAL_FIELDS[key]:
                out.warn(name, where, ptr, f"{key} is empty: the tag cannot authenticate")
            for ref in REFERENCE.findall(value):
                if ref in constants and not constants[ref].strip():
                    out.warn(
                        name,
                        where,
                        ptr,
                        f"{key} uses the constant {{{{{ref}}}}}, which is empty: fill it in "
                        "Tag Manager before publishing, or this destination cannot deliver",
                    )


def empty_credentials(version: dict[str, Any], source: str = "container.json") -> list[str]:
    """The warning lines for an export (``sgtm generate`` prints them for what it wrote)."""
    out = Collector(source)
    check_credentials(version, out)
    return [str(f) for f in out.findings]
