"""The tracking plan: its model, loader, compiler and compatibility diff."""

from typing import TYPE_CHECKING, Any

from formats.plan.errors import PlanError, Problem
from formats.plan.model import Plan

if TYPE_CHECKING:
    from formats.plan.loader import check_plan_text, load_plan, load_plan_text


def __getattr__(name: str) -> Any:
    # The loader pulls in ruamel.yaml (~0.2 s): imported on first use, so that importing the
    # model or the errors (every CLI command module does, for `sgtm --help`) stays cheap.
    if name in ("check_plan_text", "load_plan", "load_plan_text"):
        from formats.plan import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Plan", "PlanError", "Problem", "check_plan_text", "load_plan", "load_plan_text"]
