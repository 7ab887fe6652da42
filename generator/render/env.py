"""The one Jinja environment every generated file is rendered with.

Explicit and strict: undefined names fail the render instead of printing nothing, blocks do not
leave blank lines behind, and filters are registered here in one place so templates only see
domain objects and these helpers.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment


def js_string(value: Any) -> str:
    """A single-quoted JS string literal (stape style) for any text."""
    text = str(value)
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + out + "'"


def js_value(value: Any) -> str:
    """A JSON value written as a JS literal (objects, arrays, numbers, strings, booleans).

    "</" is written "<\\/" (the same string in JS) so the output can also be inlined in an HTML
    <script> element, as the checkout snippet is."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False).replace("</", "<\\/")


def yaml_quoted(value: Any) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML double-quoted scalars)."""
    return json.dumps(str(value), ensure_ascii=False)


def js_ascii(value: Any) -> str:
    """A compact JSON value as a JS literal with every non-ASCII character escaped (\\uXXXX),
    for generated tables (raw code points, line and paragraph separators included)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


FILTERS = {"js": js_string, "jsvalue": js_value, "jsascii": js_ascii, "yq": yaml_quoted}


@cache
def environment() -> Environment:
    # Jinja is imported here, not at import: `sgtm --help` and other commands need none of it.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("templates", ""),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - the output is JS, YAML and Markdown, never HTML
    )
    env.filters.update(FILTERS)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
