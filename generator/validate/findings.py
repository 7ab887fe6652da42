"""One problem found in a container export, and the collector the checks append to."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """A problem with a place: the entity (type + name/id), its field path and a JSON pointer.

    ``str()`` is the line the CLI prints, e.g.
    ``out/container.json: tag "GA4 purchase" (tagId 12): parameter[3].type: 'TEMPLATEX' is ...``.
    """

    source: str
    entity: str
    path: str
    message: str
    pointer: str
    severity: str = ERROR
    line: int | None = None  # set for problems of the file itself (JSON syntax)
    column: int | None = None

    def __str__(self) -> str:
        level = "warning: " if self.severity == WARNING else ""
        if self.line is not None:
            return f"{self.source}:{self.line}:{self.column or 1}: {level}{self.message}"
        where = f"{self.entity}: {self.path}" if self.path else self.entity
        return f"{self.source}: {where}: {level}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Collector:
    """Accumulates findings so one run reports every problem, not just the first."""

    source: str
    findings: list[Finding] = field(default_factory=list)

    def add(
        self, entity: str, path: str, pointer: str, message: str, severity: str = ERROR
    ) -> None:
        self.findings.append(Finding(self.source, entity, path, message, pointer, severity))

    def warn(self, entity: str, path: str, pointer: str, message: str) -> None:
        self.add(entity, path, pointer, message, WARNING)


def pointer_join(base: str, *parts: str | int) -> str:
    """RFC 6901 JSON pointer of ``base`` extended by ``parts``."""
    out = base
    for part in parts:
        out += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return out


def path_join(base: str, part: str | int) -> str:
    """``parameter[3]`` + ``type`` -> ``parameter[3].type``; ints become ``[i]``."""
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else part
