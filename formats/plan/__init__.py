"""The tracking plan: its model, loader, compiler and compatibility diff."""

from formats.plan.errors import PlanError, Problem
from formats.plan.loader import check_plan_text, load_plan, load_plan_text
from formats.plan.model import Plan

__all__ = ["Plan", "PlanError", "Problem", "check_plan_text", "load_plan", "load_plan_text"]
