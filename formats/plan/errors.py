"""Plan problems are values, not exceptions, so one run reports every one of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    message: str
    suggestion: str = ""
    level: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.level}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "level": self.level,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class PlanError(Exception):
    """Raised by ``load_plan`` when the plan has at least one error; carries all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{len(self.problems)} problem(s) in the tracking plan"
        super().__init__(f"{summary}; first: {first}" if first else summary)

    def report(self) -> str:
        return "\n".join(str(p) for p in self.problems)
