"""Every generated template's ___TESTS___ scenarios, run by the local sGTM runtime."""

from __future__ import annotations

import pytest

from generator.plan import load_plan
from generator.render.templates import all_templates
from generator.tpl import parse_tpl
from runtime.engine import compile_template
from runtime.environment import Environment
from runtime.testing import run_scenario, scenarios
from tests.conftest import EXAMPLE_PLAN


def _cases() -> list[tuple[str, int, str]]:
    cases = []
    for template in all_templates(load_plan(str(EXAMPLE_PLAN))):
        tpl = parse_tpl(template.text, template.filename)
        for index, scenario in enumerate(tpl.tests["scenarios"]):
            cases.append((template.kind, index, scenario["name"]))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def compiled(template_files):
    return {t.kind: compile_template(parse_tpl(t.text, t.filename)) for t in template_files}


def test_there_are_scenarios_for_every_template() -> None:
    kinds = {kind for kind, _, _ in CASES}
    assert kinds == {"client", "ga4", "meta_capi", "google_ads", "bigquery", "http"}
    assert len(CASES) >= 50


@pytest.mark.parametrize(("kind", "index", "name"), CASES, ids=[f"{k}:{n}" for k, _, n in CASES])
def test_scenario(compiled, kind: str, index: int, name: str) -> None:
    template = compiled[kind]
    scenario = scenarios(template)[index]
    assert scenario["name"] == name
    env = Environment()
    try:
        result = run_scenario(template, scenario, env)
    finally:
        env.close()
    assert result.passed, "\n".join(result.messages)
