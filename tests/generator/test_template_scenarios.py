"""Every generated template's ___TESTS___ scenarios, run by the local sGTM runtime: for the
example plan, and for its mirror image where the kinds that had PII get none and the others
get some (so both variants of each tag template run)."""

from __future__ import annotations

import pytest

from formats.plan import Plan, check_plan_text
from formats.tpl import parse_tpl
from generator.render.templates import all_templates, kind_gets_pii
from runtime.engine import compile_template
from runtime.environment import Environment
from runtime.testing import run_scenario, scenarios
from tests.conftest import EXAMPLE_PLAN


def _mirrored_text() -> str:
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("    pii: []"):
            line = "    pii: [email]\n"
        elif line.startswith("    pii: ["):
            line = "    pii: []\n"
        lines.append(line)
    return "".join(lines)


def _plans() -> dict[str, Plan]:
    plans = {}
    for name, text in (
        ("example", EXAMPLE_PLAN.read_text(encoding="utf-8")),
        ("mirrored", _mirrored_text()),
    ):
        plan, problems = check_plan_text(text, f"{name}.yaml")
        assert plan is not None, [str(p) for p in problems]
        plans[name] = plan
    return plans


PLANS = _plans()
TEMPLATES = {
    name: {t.kind: parse_tpl(t.text, t.filename) for t in all_templates(plan)}
    for name, plan in PLANS.items()
}
CASES = [
    (plan, kind, index, scenario["name"])
    for plan, tpls in TEMPLATES.items()
    for kind, tpl in tpls.items()
    if plan == "example" or kind != "client"
    for index, scenario in enumerate(tpl.tests["scenarios"])
]


@pytest.fixture(scope="module")
def compiled():
    return {
        (plan, kind): compile_template(tpl)
        for plan, tpls in TEMPLATES.items()
        for kind, tpl in tpls.items()
    }


def test_both_variants_of_every_tag_kind_are_covered() -> None:
    example, mirrored = PLANS["example"], PLANS["mirrored"]
    for kind in ("ga4", "meta_capi", "google_ads", "bigquery", "http"):
        assert kind_gets_pii(example, kind) != kind_gets_pii(mirrored, kind), kind
    assert {kind for _, kind, _, _ in CASES} == {
        "client",
        "ga4",
        "meta_capi",
        "google_ads",
        "bigquery",
        "http",
    }
    assert len(CASES) >= 90


@pytest.mark.parametrize(
    ("plan", "kind", "index", "name"), CASES, ids=[f"{p}:{k}:{n}" for p, k, _, n in CASES]
)
def test_scenario(compiled, plan: str, kind: str, index: int, name: str) -> None:
    template = compiled[(plan, kind)]
    scenario = scenarios(template)[index]
    assert scenario["name"] == name
    env = Environment()
    try:
        result = run_scenario(template, scenario, env)
    finally:
        env.close()
    assert result.passed, "\n".join(result.messages)
