"""Load the Terraform tree with python-hcl2 and point findings at file:line.

python-hcl2 returns plain dicts without positions, so a finding's line is recovered from the
source text: the resource header, then each path component in order below it. That is exact for
the layouts `terraform fmt` produces (one attribute or block header per line).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
EXAMPLES = REPO / "examples" / "terraform"
BLOCK = "__is_block__"
META_ARGUMENTS = frozenset(
    {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
)
_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=True, with_comments=False
)


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, printed as `path:line: address: message`."""

    file: str
    line: int
    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.address}: {self.message}"


class HclError(Exception):
    """A .tf file python-hcl2 cannot parse."""


@dataclass(frozen=True)
class TfFile:
    path: Path
    text: str
    doc: dict[str, Any]

    @property
    def rel(self) -> str:
        try:
            return str(self.path.relative_to(REPO))
        except ValueError:
            return str(self.path)

    def line_of(self, start: int, components: Iterable[str]) -> int:
        """Line of the last of `components` found in order from line `start` (1-based)."""
        lines = self.text.splitlines()
        line = start
        for comp in components:
            pattern = re.compile(rf'^\s*(dynamic\s+")?{re.escape(comp)}"?\s*(=|\{{|$)')
            for i in range(line, len(lines) + 1):
                if pattern.match(lines[i - 1]):
                    line = i
                    break
        return line


@dataclass(frozen=True)
class Block:
    """A top-level labelled block: resource, data, module, variable or output."""

    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]
    file: TfFile
    line: int

    @property
    def address(self) -> str:
        if self.kind == "resource":
            return ".".join(self.labels)
        return ".".join((self.kind, *self.labels))

    def finding(self, path: Iterable[str], message: str) -> Finding:
        path = list(path)
        return Finding(self.file.rel, self.file.line_of(self.line, path), self.address, message)


def parse(path: Path, text: str | None = None) -> TfFile:
    if text is None:
        return _parse_file(path, path.stat().st_mtime_ns)
    return _parse_text(path, text)


@functools.lru_cache(maxsize=256)
def _parse_file(path: Path, mtime_ns: int) -> TfFile:
    # Keyed by mtime so a test that rewrites a file never sees a stale parse.
    return _parse_text(path, path.read_text(encoding="utf-8"))


def _parse_text(path: Path, text: str) -> TfFile:
    try:
        doc = hcl2.loads(text, serialization_options=_OPTIONS)
    except Exception as exc:  # lark raises many types; all mean "not HCL we can read"
        line = getattr(exc, "line", "?")
        raise HclError(f"{path}:{line}: cannot parse: {str(exc).splitlines()[0]}") from exc
    return TfFile(path, text, doc)


def tf_files(*roots: Path) -> list[TfFile]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.tf")):
            if ".terraform" not in path.parts:
                found.append(parse(path))
    return found


def _header_line(file: TfFile, kind: str, labels: tuple[str, ...]) -> int:
    quoted = r"\s+".join(f'"?{re.escape(label)}"?' for label in labels)
    pattern = re.compile(rf"^{kind}\s+{quoted}\s*\{{", re.MULTILINE)
    match = pattern.search(file.text)
    return file.text.count("\n", 0, match.start()) + 1 if match else 1


def blocks(files: Iterable[TfFile], kind: str) -> Iterator[Block]:
    """Top-level blocks of one kind; resource/data have two labels, the others one."""
    for file in files:
        for entry in file.doc.get(kind, []):
            for first, inner in entry.items():
                if kind in ("resource", "data"):
                    for second, body in inner.items():
                        labels = (first, second)
                        yield Block(kind, labels, body, file, _header_line(file, kind, labels))
                else:
                    yield Block(kind, (first,), inner, file, _header_line(file, kind, (first,)))


def is_block_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get(BLOCK) for v in value)
    )


def nested(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Instances of block `name` in `body`, static and `dynamic` (their `content`)."""
    out = list(body.get(name, [])) if is_block_list(body.get(name)) else []
    for dyn in body.get("dynamic", []):
        if name in dyn:
            out.extend(dyn[name].get("content", []))
    return out


def walk_strings(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string value with the key path leading to it."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != BLOCK:
                yield from walk_strings(v, (*path, k))
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v, path)


def module_calls(root: Path = TERRAFORM) -> dict[str, dict[str, Any]]:
    """Root module's `module` blocks by name."""
    return {b.labels[0]: b.body for b in blocks(tf_files_in(root), "module")}


def tf_files_in(directory: Path) -> list[TfFile]:
    """The .tf files of one module (not its submodules)."""
    return [parse(p) for p in sorted(directory.glob("*.tf"))]
