"""Check resource and data blocks against the compact google provider schema.

The schema (tests/terraform/provider_schema.json) is derived from @cdktf/provider-google
16.12.1, i.e. hashicorp/google 6.50.0, by tools/provider_schema/extract.py.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.terraform.hcl import BLOCK, META_ARGUMENTS, Block, Finding, is_block_list

SCHEMA_PATH = Path(__file__).with_name("provider_schema.json")


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_body(
    block: Block, body: dict[str, Any], spec: dict[str, Any], path: tuple[str, ...], top: bool
) -> list[Finding]:
    out: list[Finding] = []
    attrs, subs = spec["attributes"], spec["blocks"]
    known = [*attrs, *subs]
    present_blocks: set[str] = set()
    for key, value in body.items():
        if key == BLOCK or (top and key in META_ARGUMENTS):
            continue
        where = (*path, key)
        if key == "dynamic" and isinstance(value, list):
            for dyn in value:
                for name, dyn_body in dyn.items():
                    if name == BLOCK:
                        continue
                    if name not in subs:
                        msg = f'dynamic "{name}": no such block in {_type_path(block, path)}'
                        out.append(block.finding((*path, name), msg + _hint(name, subs)))
                        continue
                    present_blocks.add(name)
                    for content in dyn_body.get("content", []):
                        out += _check_body(block, content, subs[name], (*path, name), False)
            continue
        if key in attrs:
            if is_block_list(value):
                msg = f"{key} is an attribute: write `{key} = ...`, not a block"
                out.append(block.finding(where, msg))
            allowed = attrs[key].get("values")
            for literal in _literals(value) if allowed else []:
                if literal not in allowed:
                    choices = ", ".join(allowed)
                    msg = f"{key} = {literal!r} is not one of the provider's values: {choices}"
                    out.append(block.finding(where, msg + _hint(literal, allowed)))
        elif key in subs:
            if not is_block_list(value):
                msg = f"{key} is a block: write `{key} {{ ... }}`, not `{key} = ...`"
                out.append(block.finding(where, msg))
                continue
            present_blocks.add(key)
            if len(value) > 1 and not subs[key]["repeats"]:
                out.append(block.finding(where, f"{key} may appear only once"))
            for item in value:
                out += _check_body(block, item, subs[key], where, False)
        else:
            msg = f"unknown {'block' if is_block_list(value) else 'attribute'} {key!r} in "
            out.append(block.finding(where, msg + _type_path(block, path) + _hint(key, known)))
    for name, meta in sorted(attrs.items()):
        if meta["required"] and name not in body:
            out.append(block.finding(path, f"required attribute {name!r} is missing"))
    for name, meta in sorted(subs.items()):
        if meta["required"] and name not in present_blocks:
            out.append(block.finding(path, f"required block {name!r} is missing"))
    return out


_TERNARY = re.compile(r'^\$\{[^?]+\?\s*"([^"$]*)"\s*:\s*"([^"$]*)"\s*\}$')


def _literals(value: Any) -> list[str]:
    """The strings a value can take: itself, or both arms of `cond ? "a" : "b"`."""
    if not isinstance(value, str):
        return []
    if not value.startswith("${"):
        return [value]
    match = _TERNARY.match(value)
    return list(match.groups()) if match else []


def _type_path(block: Block, path: tuple[str, ...]) -> str:
    return ".".join((block.labels[0], *path))


def check(blocks: Iterable[Block], schema: dict[str, Any]) -> list[Finding]:
    """Every finding for the given resource and data blocks, sorted by file and line."""
    out: list[Finding] = []
    for block in blocks:
        table = schema["resources"] if block.kind == "resource" else schema["data_sources"]
        type_name = block.labels[0]
        if not type_name.startswith("google"):
            continue
        if type_name not in table:
            msg = f"{block.kind} type {type_name} is not in the committed schema"
            hint = _hint(type_name, table)
            regen = "; re-run tools/provider_schema/extract.py if it is a new type"
            out.append(block.finding((), msg + hint + regen))
            continue
        out += _check_body(block, block.body, table[type_name], (), True)
    return sorted(out)
