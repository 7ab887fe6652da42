"""The static check of the sandboxed-JS subset: what is refused, and where it is reported."""

from __future__ import annotations

import pytest

from formats.tpl import parse_tpl
from runtime import syntax
from runtime.engine import compile_template
from runtime.syntax import TICK, TemplateSyntaxError, check
from tests.runtime.helpers import tpl_text

REFUSED = [
    ("const s = `x${1}`;", "template literals"),
    ("const d = new Date();", "'new' is not supported"),
    ("function f() { return this; }", "'this' is not supported"),
    ("try { x(); } catch (e) {}", "try/catch is not supported"),
    ("throw 'x';", "'throw' is not supported"),
    ("const a = [...b];", "spread"),
    ("function f(...a) {}", "rest parameters"),
    ("const {a} = b;", "destructuring"),
    ("function f(a = 1) {}", "default parameter values"),
    ("class A {}", "'class' is not supported"),
    ("const r = /ab+/;", "regex literals"),
    ("async function f() {}", "async functions"),
    ("const o = {get x() { return 1; }};", "getters and setters"),
    ("delete o.k;", "Object.delete"),
    ("const has = 'k' in o;", "'in' operator"),
    ("do { x(); } while (false);", "do...while"),
    ("outer: for (;;) { break outer; }", "labels"),
    ("const api = require(name);", "string literal"),
    ("var __sgtm_tick = 1;", "reserved"),
]


@pytest.mark.parametrize(("code", "message"), REFUSED)
def test_refused_construct_is_reported_with_position(code: str, message: str):
    with pytest.raises(TemplateSyntaxError) as err:
        check("const ok = 1;\n" + code, "x.tpl", 40)
    problem = err.value.problems[0]
    assert problem.source == "x.tpl" and problem.line == 41
    assert message in problem.message
    assert str(problem).startswith("x.tpl:41:")


def test_accepted_subset_passes():
    code = """const a = [1, 2].map(x => ({v: x}));
    let total = 0;
    for (const item of a) { total += item.v; }
    for (const k in {a: 1}) { total++; }
    switch (total) { case 1: break; default: total = typeof total; }
    function later() { return arguments.length; }
    return later();"""
    assert TICK in check(code)


def test_syntax_error_points_at_file_line_and_column():
    with pytest.raises(TemplateSyntaxError) as err:
        check("const a = 1;\nconst b = ;\n", "t.tpl", 10)
    assert str(err.value) == "t.tpl:11:11: syntax error: Unexpected token ;"


def test_column_on_the_first_line_ignores_the_wrapper():
    with pytest.raises(TemplateSyntaxError) as err:
        check("new X();", "t.tpl", 5)
    assert str(err.value).startswith("t.tpl:5:1:")


def test_every_problem_is_listed_in_order():
    with pytest.raises(TemplateSyntaxError) as err:
        check("const a = this;\nconst b = new X();\n", "t.tpl", 1)
    assert [(p.line, p.column) for p in err.value.problems] == [(1, 11), (2, 11)]


def test_instrumentation_keeps_lines_and_meaning():
    code = "let n = 0;\nfor (let i = 0; i < 3; i++) n += i;\nconst f = x => x * 2;\nreturn f(n);"
    out = check(code)
    assert out.count("\n") == code.count("\n")
    assert out.count(TICK) == 3  # the body itself, the loop, the arrow


def test_top_level_return_is_legal():
    check("if (true) return;\ndata.gtmOnSuccess();")


def test_template_file_errors_use_the_file_line_of_the_code_section():
    text = tpl_text("const a = 1;\nconst d = new Date();")
    tpl = parse_tpl(text, "bad.tpl")
    with pytest.raises(TemplateSyntaxError) as err:
        compile_template(tpl)
    assert str(err.value).startswith(f"bad.tpl:{tpl.code_line + 1}:11: 'new'")


def test_web_templates_are_refused_with_their_marker_line():
    from formats.tpl import TplError

    text = tpl_text("data.gtmOnSuccess();").replace(
        "___SANDBOXED_JS_FOR_SERVER___", "___SANDBOXED_JS_FOR_WEB_TEMPLATE___"
    )
    tpl = parse_tpl(text, "web.tpl")
    with pytest.raises(TplError) as err:
        compile_template(tpl)
    first_code_line = text.lstrip("\ufeff").split("\n").index("data.gtmOnSuccess();") + 1
    assert str(err.value) == (
        f"web.tpl:{first_code_line}: this code is ___SANDBOXED_JS_FOR_WEB_TEMPLATE___: the local "
        "runtime runs server templates (___SANDBOXED_JS_FOR_SERVER___) only"
    )


def test_portability_warnings_only_for_what_google_does_not_document():
    """Standard-library methods, documented object-API members (also through an indirect alias
    or an inline require), Promise methods and the template's own function properties are fine;
    hasOwnProperty, startsWith, an undocumented JSON member and for...of are not documented."""
    code = """const JSON = require('JSON');
const BigQuery = require('BigQuery');
const bigquery = getType(BigQuery) === 'function' ? BigQuery() : BigQuery;
const options = {transform: (x) => x};
bigquery.insert({}, []).then(() => 1);
require('Firestore').read('a/b');
options.transform('A'.toLowerCase().trim().split('').join(''));
const parsed = JSON.parse('{}');
if (parsed.hasOwnProperty('a') || 'abc'.startsWith('a')) JSON.rawJSON('1');
for (const k of [1]) {}"""
    found = [
        (w.line, w.column, w.message.split(" (")[0]) for w in syntax.analyse(code, "p.tpl").warnings
    ]
    assert found == [
        (9, 12, "'.hasOwnProperty()' is not in Google's sandbox standard library"),
        (9, 41, "'.startsWith()' is not in Google's sandbox standard library"),
        (9, 63, "JSON.rawJSON is not documented for the sandbox"),
        (10, 1, "for...of is not in ES5.1 and not documented for the sandbox; use for"),
    ]
