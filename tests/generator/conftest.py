"""Generator fixtures: the example plan and its generated tree, built once per session."""

from __future__ import annotations

import pytest

from formats.plan import Plan, load_plan
from formats.tpl import Tpl, parse_tpl
from generator.render import generate
from generator.render.templates import TemplateFile, all_templates
from tests.conftest import EXAMPLE_PLAN


@pytest.fixture(scope="session")
def plan() -> Plan:
    return load_plan(str(EXAMPLE_PLAN))


@pytest.fixture(scope="session")
def files(plan: Plan) -> dict[str, str]:
    return generate(plan)


@pytest.fixture(scope="session")
def template_files(plan: Plan) -> list[TemplateFile]:
    return all_templates(plan)


@pytest.fixture(scope="session")
def tpls(files: dict[str, str]) -> dict[str, Tpl]:
    return {
        path.removeprefix("templates/").removesuffix(".tpl"): parse_tpl(text, path)
        for path, text in files.items()
        if path.startswith("templates/")
    }
