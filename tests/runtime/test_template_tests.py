"""`sgtm templates test`: GTM's test API, and each semantic learned from real templates' tests
(Meta's CAPI tag, stape data-client / facebook-tag / tiktok-tag, Snowplow client, Google's
gps_soteria and pantheon), re-expressed with small templates of our own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runtime.testing import run_tests
from sgtm.cli import main as sgtm
from tests.runtime.helpers import FIXTURES, perm, template, tpl_text

TAG = """const sendHttpRequest = require('sendHttpRequest');
const getAllEventData = require('getAllEventData');
const JSON = require('JSON');
const ev = getAllEventData();
sendHttpRequest('https://api.example.com/e', (status) => {
  if (status === 200) data.gtmOnSuccess(); else data.gtmOnFailure();
}, {method: 'POST'}, JSON.stringify({name: ev.event_name, id: data.id}));
"""
TAG_PERMS = [
    perm("read_event_data", eventDataAccess="any"),
    perm("send_http", allowedUrls="specific", urls=["https://api.example.com/"]),
]


def scenarios(*items: tuple[str, str], setup: str = "") -> str:
    out = "scenarios:\n"
    for name, code in items:
        out += f"- name: {name}\n  code: |-\n" + textwrap.indent(textwrap.dedent(code), "    ")
        out += "\n"
    if setup:
        out += "setup: |-\n" + textwrap.indent(textwrap.dedent(setup), "  ") + "\n"
    return out


def results(code: str, tests: str, permissions=None, kind: str = "TAG"):
    return {r.name: r for r in run_tests(template(code, permissions, kind, tests), timeout=2.0)}


def test_setup_and_scenario_share_one_scope_and_mocks_change_between_runs():
    # Meta's tests reassign setup's `let` in a scenario and re-mock between runCode calls.
    tests = scenarios(
        (
            "two runs",
            """
            runCode({id: 1});
            assertThat(JSON.parse(body).name).isEqualTo('purchase');
            model = {event_name: 'refund'};
            mock('getAllEventData', () => model);
            runCode({id: 2});
            assertThat(JSON.parse(body)).isEqualTo({name: 'refund', id: 2});
            assertApi('sendHttpRequest').wasCalledWith('https://api.example.com/e', callback,
              {method: 'POST'}, JSON.stringify({name: 'refund', id: 2}));
            assertApi('gtmOnSuccess').wasCalled();
            """,
        ),
        setup="""
        const JSON = require('JSON');
        let model = {event_name: 'purchase'};
        let callback, body;
        mock('getAllEventData', model);
        mock('sendHttpRequest', (url, cb, options, b) => { callback = cb; body = b; cb(200); });
        """,
    )
    result = results(TAG, tests, TAG_PERMS)["two runs"]
    assert result.passed, result.messages


def test_failing_assertion_shows_the_assertion_and_values():
    tests = scenarios(
        ("wrong name", "runCode({id: 1});\nassertThat(JSON.parse(body).name).isEqualTo('refund');"),
        ("not called", "assertApi('gtmOnFailure').wasCalled();"),
        ("args differ", "runCode({id: 3});\nassertApi('gtmOnSuccess').wasCalledWith('x');"),
        setup="""
        const JSON = require('JSON');
        let body;
        mock('getAllEventData', {event_name: 'purchase'});
        mock('sendHttpRequest', (url, cb, options, b) => { body = b; cb(200); });
        """,
    )
    got = results(TAG, tests, TAG_PERMS)
    assert got["wrong name"].messages == ['assertThat("purchase").isEqualTo("refund") failed']
    assert got["not called"].messages == [
        "assertApi('gtmOnFailure').wasCalled(): it was not called"
    ]
    assert got["args differ"].messages == [
        "assertApi('gtmOnSuccess').wasCalledWith(\"x\"): actual calls: ()"
    ]


def test_mocking_an_unknown_name_is_allowed_and_unmocked_apis_are_recorded():
    # stape data-client mocks 'requestMethod' (no such API) and asserts on the real,
    # permission-checked setResponseStatus.
    code = """require('claimRequest')();
    require('setResponseStatus')(require('getRequestPath')() === '/data' ? 200 : 404);
    require('returnResponse')();"""
    perms = [
        perm("read_request", requestAccess="any"),
        perm("access_response", writeResponseAccess="any"),
        perm("return_response"),
    ]
    tests = scenarios(
        (
            "client",
            """
            mock('requestMethod', 'POST');
            mock('getRequestPath', '/data');
            runCode({});
            assertApi('setResponseStatus').wasCalledWith(200);
            assertApi('returnResponse').wasCalled();
            assertApi('getRequestPath').wasNotCalledWith('/x');
            """,
        )
    )
    assert results(code, tests, perms, "CLIENT")["client"].passed
    denied = results(code, tests, perms[:1], "CLIENT")["client"]
    assert not denied.passed
    assert "setResponseStatus: permission denied by 'Accesses response'" in denied.messages[0]


def test_assertions_inside_mocks_and_callbacks_fail_the_scenario():
    code = "require('runContainer')({event_name: 'x'}, () => {});"
    tests = scenarios(
        (
            "inside a mock",
            """
            mock('runContainer', (event, done) => { assertThat(event.event_name).isEqualTo('y'); });
            runCode({});
            """,
        ),
        (
            "inside callLater",
            """
            mock('runContainer', (event, done) => done());
            runCode({});
            require('callLater')(() => fail('from later'));
            """,
        ),
    )
    got = results(code, tests, [perm("run_container")], "CLIENT")
    assert got["inside a mock"].messages == ['assertThat("x").isEqualTo("y") failed']
    assert got["inside callLater"].messages == ['fail("from later")']


def test_mock_object_and_object_api_factories():
    # stape facebook-tag uses mockObject('Promise', {all}); Google's gps_soteria and pantheon
    # mock('Firestore' / 'BigQuery', () => ({...})) as a factory of the object.
    code = """const Promise = require('Promise');
    const Firestore = require('Firestore');
    const BigQuery = require('BigQuery');
    BigQuery.insert({datasetId: 'd', tableId: 't'}, [{a: 1}], {}, () => {}, () => {});
    return Promise.all([Firestore.read('c/doc1')]).then((docs) => docs[0].data.v);"""
    tests = scenarios(
        (
            "factories",
            """
            const P = require('Promise');
            let rows;
            mock('Firestore', () => ({read: (path) => P.create((r) => r({data: {v: path}}))}));
            mock('BigQuery', () => ({insert: (info, r) => { rows = r; }}));
            runCode({}).then((value) => {
              assertThat(value).isEqualTo('c/doc1');
              assertThat(rows).hasLength(1);
            });
            """,
        ),
        (
            "mockObject",
            """
            const P = require('Promise');
            mock('Firestore', () => ({read: () => P.create((r) => r({data: {v: 1}}))}));
            mock('BigQuery', () => ({insert: () => {}}));
            mockObject('Promise', {all: () => P.create((r) => r([{data: {v: 'mocked'}}]))});
            runCode({}).then((value) => assertThat(value).isEqualTo('mocked'));
            assertApi('Promise.all').wasCalled();
            """,
        ),
    )
    got = results(code, tests, [], "MACRO")
    assert got["factories"].passed, got["factories"].messages
    assert got["mockObject"].passed, got["mockObject"].messages


def test_unmocked_test_environment_values():
    # Snowplow: a storage miss is null. tiktok-tag: a request header is defined in tests.
    code = """return [require('templateDataStorage').getItemCopy('k'),
                     require('getRequestHeader')('trace-id')];"""
    tests = scenarios(
        (
            "values",
            "const v = runCode({});\nassertThat(v[0]).isNull();\nassertThat(v[1]).isDefined();",
        )
    )
    perms = [perm("access_template_storage"), perm("read_request", requestAccess="any")]
    assert results(code, tests, perms, "MACRO")["values"].passed


def test_matchers():
    tests = scenarios(
        (
            "all pass",
            """
            assertThat({a: [1, {b: 2}]}).isEqualTo({a: [1, {b: 2}]});
            assertThat({a: 1}).isNotEqualTo({a: 2});
            const o = {}; assertThat(o).isStrictlyEqualTo(o);
            assertThat({}).isNotStrictlyEqualTo({});
            assertThat(0).isDefined(); assertThat(undefined).isUndefined();
            assertThat(null).isNull(); assertThat(0).isNotNull();
            assertThat(true).isTrue(); assertThat(false).isFalse();
            assertThat('x').isTruthy(); assertThat('').isFalsy();
            assertThat(0/0).isNaN(); assertThat(1).isNotNaN();
            assertThat(1/0).isInfinity(); assertThat(1).isNotInfinity();
            assertThat('s').isString(); assertThat(1).isNumber(); assertThat(false).isBoolean();
            assertThat([]).isArray(); assertThat({}).isObject(); assertThat(() => 1).isFunction();
            assertThat(2).isGreaterThan(1); assertThat(2).isGreaterThanOrEqualTo(2);
            assertThat(1).isLessThan(2); assertThat(2).isLessThanOrEqualTo(2);
            assertThat([1, 2]).hasLength(2); assertThat([]).isEmpty(); assertThat('a').isNotEmpty();
            assertThat([1, {a: 1}]).contains({a: 1}); assertThat('abc').contains('b');
            assertThat([1]).doesNotContain(2);
            assertThat([2, 1]).containsExactly(1, 2); assertThat([1]).doesNotContainExactly(1, 2);
            """,
        ),
        ("one fails", "assertThat(3, 'the count').isLessThan(2);"),
    )
    got = results("return 1;", tests, [], "MACRO")
    assert got["all pass"].passed, got["all pass"].messages
    assert got["one fails"].messages == ["the count: assertThat(3).isLessThan(2) failed"]


def test_errors_in_test_code_name_the_scenario_line():
    tests = scenarios(
        ("syntax", "const a = 1;\nconst b = new Thing();"),
        ("runtime", "const a = 1;\nconst b = null;\nb.x = 1;"),
        ("runaway", "while (true) { }"),
        setup="const s = 1;",
    )
    got = results("return 1;", tests, [], "MACRO")
    assert (
        got["syntax"]
        .messages[0]
        .endswith(
            "(tests): scenario 'syntax' line 2:11: 'new' is not supported in sandboxed JavaScript"
        )
    )
    assert got["runtime"].messages == [
        "t.tpl: scenario 'runtime' line 3: TypeError: cannot set property 'x' of null"
    ]
    assert "stopped runaway code" in got["runaway"].messages[0]
    assert "scenario 'runaway' line 1" in got["runaway"].messages[0]


def test_cli_prints_one_line_per_scenario_and_the_totals(tmp_path: Path, capsys):
    bad = tmp_path / "bad.tpl"
    bad.write_text(
        tpl_text(
            "return 1;",
            [],
            "MACRO",
            scenarios(
                ("ok", "assertThat(runCode({})).isEqualTo(1);"),
                ("no", "assertThat(runCode({})).isEqualTo(2);"),
            ),
        ),
        encoding="utf-8",
    )
    code = sgtm(["templates", "test", str(FIXTURES / "macro.tpl"), str(bad)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == f"PASS {FIXTURES / 'macro.tpl'} :: prefixes the value"
    assert out[1] == f"PASS {bad} :: ok"
    assert out[2] == f"FAIL {bad} :: no"
    assert out[3] == "    assertThat(1).isEqualTo(2) failed"
    assert out[-1] == "2 passed, 1 failed"
    assert sgtm(["templates", "test", *map(str, sorted(FIXTURES.glob("*.tpl")))]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "6 passed, 0 failed"


def test_cli_reports_unreadable_templates_precisely(tmp_path: Path, capsys):
    broken = tmp_path / "broken.tpl"
    broken.write_text(tpl_text("const x = `t`;"), encoding="utf-8")
    missing = tmp_path / "missing.tpl"
    assert sgtm(["templates", "test", str(broken), str(missing)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"ERROR {broken}:") and "template literals" in out[0]
    assert out[1] == f"ERROR {missing}:1: cannot read: No such file or directory"
    assert out[-1] == "0 passed, 2 failed"


@pytest.mark.parametrize("name", ["client.tpl", "http_tag.tpl", "macro.tpl"])
def test_fixture_templates_pass_their_own_scenarios(name: str):
    from runtime.engine import load_template

    got = run_tests(load_template(FIXTURES / name))
    assert got and all(r.passed for r in got), [(r.name, r.messages) for r in got]


def test_templates_may_require_assert_that():
    # A production Heureka variable requires 'assertThat' at the top of its code: allowed in
    # the sandbox; calling it outside tests fails clearly.
    code = "const assertThat = require('assertThat');\nreturn data.v === 1 ? 'one' : assertThat(1).isTrue();"
    tests = scenarios(("ok", "assertThat(runCode({v: 1})).isEqualTo('one');"))
    assert results(code, tests, [], "MACRO")["ok"].passed
    from tests.runtime.helpers import run

    result, _ = run(code, kind="MACRO", data={"v": 2})
    assert "assertThat is only available while template tests run" in result.error


def test_cli_warns_per_undocumented_use_and_strict_fails(tmp_path: Path, capsys):
    """Google guarantees only its standard library (developers.google.com/tag-platform/
    tag-manager/templates/standard-library) and ES5.1 plus arrows and let/const; anything else
    runs here but may not in GTM: a warning with file:line:col, a failure under --strict."""
    code = (
        "const ok = 'abc'.indexOf('b');\nfor (const c of ['x']) { 'x'.startsWith(c); }\nreturn ok;"
    )
    path = tmp_path / "modern.tpl"
    text = "// Licence: MIT" + tpl_text(
        code, [], "MACRO", scenarios(("ok", "runCode({});"))
    ).lstrip("\ufeff")
    path.write_text(text, encoding="utf-8")
    code_line = next(i for i, line in enumerate(text.split("\n"), 1) if line.startswith("const ok"))
    assert sgtm(["templates", "test", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"WARNING {path}:1: 1 line(s) of text before ___INFO___ (a licence comment?) are not "
        "part of any section and are ignored"
    )
    assert out[1].startswith(
        f"WARNING {path}:{code_line + 1}:1: portability: for...of is not in ES5.1"
    )
    assert out[2].startswith(
        f"WARNING {path}:{code_line + 1}:30: portability: '.startsWith()' is not in Google's "
        "sandbox standard library"
    )
    assert out[-1] == "1 passed, 0 failed"
    assert sgtm(["templates", "test", "--strict", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0].startswith("WARNING") and out[1].startswith("ERROR") and out[2].startswith("ERROR")
    )
    assert out[-1] == "1 passed, 2 failed"


# Google's test documentation (developers.google.com/tag-platform/tag-manager/templates/tests,
# summarised in the reference notes): runCode(data) runs the template with the data object it
# is given; mocks (mock, mockObject) are reset before each test. So mocks belong to a scenario
# and hold across its runCode calls; data belongs to one runCode call.
SCOPED = """const storage = require('templateDataStorage');
const count = (storage.getItemCopy('runs') || 0) + 1;
storage.setItemCopy('runs', count);
const seen = data.seen;
data.seen = 'by the template';
data.gtmOnSuccess();
return [require('getTimestampMillis')(), count, seen];"""
SCOPED_PERMS = [perm("access_template_storage")]


def test_mocks_hold_for_the_scenario_and_data_belongs_to_one_run_code_call():
    tests = scenarios(
        (
            "first",
            """
            const input = {id: 1};
            mock('getTimestampMillis', 42);
            assertThat(runCode(input)).isEqualTo([42, 1, undefined]);
            // The mock still holds; the template's data.seen did not leak into the next call or
            // into the test's object, and gtmOnSuccess was not added to it.
            assertThat(runCode(input)).isEqualTo([42, 2, undefined]);
            assertThat(input).isEqualTo({id: 1});
            mock('getTimestampMillis', 7);
            assertThat(runCode({seen: 'given'})).isEqualTo([7, 3, 'given']);
            """,
        ),
        (
            "second",
            """
            // A new test: no mock from 'first', and the storage it filled is gone.
            const value = runCode({});
            assertThat(value[0] === 42 || value[0] === 7).isFalse();
            assertThat(value[1]).isEqualTo(1);
            """,
        ),
    )
    got = results(SCOPED, tests, SCOPED_PERMS, kind="MACRO")
    assert got["first"].passed, got["first"].messages
    assert got["second"].passed, got["second"].messages


def test_a_run_keeps_the_mocks_it_started_with_after_the_scenario_re_mocks():
    """stape's activecampaign-tag loops over cases in one scenario: mock, runCode, next case
    re-mocks. Its first run's second request happens in a Promise callback, after the re-mock,
    and its assertions (which pass in GTM) need the first run's mock. So a mock is bound when the
    template requires the API, at the start of each runCode."""
    code = """const send = require('sendHttpRequest');
    const Promise = require('Promise');
    send('https://a.example/1').then(() => send('https://a.example/2')).then((tag) => {
      data.gtmOnSuccess();
    });"""
    tests = scenarios(
        (
            "two cases",
            """
            const Promise = require('Promise');
            const seen = [];
            ['first', 'second'].forEach((label) => {
              mock('sendHttpRequest', (url) => {
                seen.push(label + ' ' + url);
                return Promise.create((resolve) => resolve(label));
              });
              runCode({});
            });
            require('callLater')(() => assertThat(seen).isEqualTo([
              'first https://a.example/1', 'second https://a.example/1',
              'first https://a.example/2', 'second https://a.example/2']));
            """,
        ),
    )
    got = results(code, tests, [perm("send_http", allowedUrls="any")])
    assert got["two cases"].passed, got["two cases"].messages
