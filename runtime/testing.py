"""Run a template's ``___TESTS___`` scenarios with GTM's test API.

Each scenario gets a fresh context holding the template; ``setup`` and the scenario's ``code``
run as one function body (setup first), so a scenario can reassign setup's ``let`` bindings the
way GTM allows. ``runCode``, ``mock``, ``mockObject``, ``assertApi``, ``assertThat`` and ``fail``
are globals of that body; assertion failures are collected even when they happen inside a
mock, a Promise callback or ``callLater``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import quickjs

from runtime import analysis_cache, syntax
from runtime.engine import PRELUDE_TEST, TEST_BASE, Sandbox, Template, wrap_test
from runtime.environment import Environment
from runtime.host import RunState


@dataclass
class ScenarioResult:
    template: str
    name: str
    passed: bool
    messages: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


class _TestSandbox(Sandbox):
    pooled = False  # a scenario evaluates the test API and its own code into the context
    setup_lines: int = 0
    scenario: str = ""

    def locate(self, stack: str) -> str | None:
        where = super().locate(stack)
        if where is not None:
            return where
        for match in _frames(stack):
            if match >= TEST_BASE:
                line = match - TEST_BASE + 1
                if line <= self.setup_lines:
                    return f"{self.template.source}: setup line {line}"
                return (
                    f"{self.template.source}: scenario {self.scenario!r} line "
                    f"{line - self.setup_lines}"
                )
        return None

    def describe_line(self, file_line: int) -> str:
        # Budget ticks in test code carry test-code lines offset by TEST_BASE.
        if file_line >= TEST_BASE:
            line = file_line - TEST_BASE + 1
            if line <= self.setup_lines:
                return f"{self.template.source}: setup line {line}"
            return (
                f"{self.template.source}: scenario {self.scenario!r} line {line - self.setup_lines}"
            )
        return super().describe_line(file_line)


def _frames(stack: str) -> list[int]:
    from runtime.engine import _FRAME

    return [int(m.group("line")) for m in _FRAME.finditer(stack)]


def scenarios(template: Template) -> list[dict[str, Any]]:
    tests = template.tpl.tests or {}
    return [s for s in tests.get("scenarios") or [] if isinstance(s, dict)]


def run_scenario(
    template: Template,
    scenario: dict[str, Any],
    env: Environment | None = None,
    timeout: float = 5.0,
) -> ScenarioResult:
    name = str(scenario.get("name", "(unnamed)"))
    setup = str((template.tpl.tests or {}).get("setup") or "")
    code = str(scenario.get("code") or "")
    env = env or Environment()
    # A test starts from nothing, as its mocks do: what an earlier scenario stored (template
    # storage, BigQuery rows, Firestore documents) is gone. Within a scenario it stays, across
    # runCode calls, as it would on one server.
    env.storage.pop(template.id, None)
    env.bigquery.clear()
    env.firestore.clear()
    state = RunState(
        template_id=template.id,
        permissions=template.permissions,
        kind=template.kind,
        env=env,
        testing=True,
    )
    result = ScenarioResult(template.source, name, False)
    setup_lines = setup.count("\n") + 1
    source = f"{template.source} (tests)"
    try:
        # The setup is the same for every scenario: checked once, then each scenario's own
        # code at the lines it has after the setup (instrumenting adds no newline).
        instrumented = (
            _checked_setup(setup, source)
            + "\n"
            + analysis_cache.check(code, source, TEST_BASE + setup_lines)
        )
    except syntax.TemplateSyntaxError as exc:
        result.messages = [_test_position(p, setup_lines, name) for p in exc.problems]
        return result
    sandbox = _TestSandbox(template, state, timeout)
    sandbox.setup_lines = setup_lines
    sandbox.scenario = name
    try:
        sandbox.ctx.eval(PRELUDE_TEST)
        sandbox.ctx.eval(wrap_test(instrumented))
        sandbox.ctx.eval("__sgtm_scenario(__sgtm_test_api)")
    except quickjs.JSException as exc:
        sandbox.errors.append(sandbox.explain(exc))
    state.client_returned = True
    sandbox.settle()
    failures = json.loads(sandbox.ctx.get("__sgtm_failures")())
    sandbox.close()
    messages = list(failures)
    for error in sandbox.errors:
        if not any(error.endswith(f) for f in failures):
            messages.append(error)
    result.passed = not messages
    result.messages = messages
    result.logs = list(state.logs)
    return result


@functools.lru_cache(maxsize=64)
def _checked_setup(setup: str, source: str) -> str:
    return analysis_cache.check(setup, source, TEST_BASE)


def _test_position(problem: syntax.SyntaxProblem, setup_lines: int, scenario: str) -> str:
    line = problem.line - TEST_BASE + 1
    if line <= setup_lines:
        return f"{problem.source}: setup line {line}:{problem.column}: {problem.message}"
    return (
        f"{problem.source}: scenario {scenario!r} line {line - setup_lines}:{problem.column}: "
        f"{problem.message}"
    )


def run_tests(
    template: Template, env: Environment | None = None, timeout: float = 5.0
) -> list[ScenarioResult]:
    env = env or Environment()
    return [run_scenario(template, s, env, timeout) for s in scenarios(template)]
