"""The sandbox APIs, one semantic per test, through real template runs in QuickJS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response as WResponse

from runtime.environment import Environment
from runtime.host import Request
from tests.runtime.helpers import perm, run

ANY_EVENT = perm("read_event_data", eventDataAccess="any")
LOG_ALL = perm("logging", environments="all")


def value_of(code: str, permissions=None, **kw):
    result, _ = run(code, permissions, kind="MACRO", **kw)
    assert result.error is None, result.error
    return result.value


def test_require_knows_only_api_names():
    result, _ = run("const x = require('window'); data.gtmOnSuccess();")
    assert result.outcome is None
    assert "t.tpl:" in result.error and 'require: unknown API "window"' in result.error


def test_globals_outside_the_sandbox_are_not_there():
    result, _ = run("const r = Math.random(); data.gtmOnSuccess();")
    assert "cannot read property 'random' of undefined" in result.error


def test_json_parse_returns_undefined_on_bad_input():
    code = """const JSON = require('JSON');
    return [JSON.parse('{bad'), JSON.parse('{"a": [1, 2]}'), JSON.stringify({b: 1})];"""
    assert value_of(code) == [None, {"a": [1, 2]}, '{"b":1}']
    assert value_of("const JSON = require('JSON'); return JSON.parse('{') === undefined;") is True


def test_sha256sync_defaults_to_base64():
    code = """const sha256Sync = require('sha256Sync');
    return [sha256Sync('abc'), sha256Sync('abc', {outputEncoding: 'hex'})];"""
    digest = hashlib.sha256(b"abc").digest()
    assert value_of(code) == [base64.b64encode(digest).decode(), digest.hex()]


def test_get_event_data_dot_paths_with_array_indices():
    code = """const getEventData = require('getEventData');
    return [getEventData('items.1.item_id'), getEventData('user_data.address.city'),
            getEventData('items.7.item_id'), getEventData('x-ga-gcs')];"""
    event = {
        "items": [{"item_id": "a"}, {"item_id": "b"}],
        "user_data": {"address": {"city": "Madrid"}},
        "x-ga-gcs": "G111",
    }
    assert value_of(code, [ANY_EVENT], event=event) == ["b", "Madrid", None, "G111"]


def test_unlisted_event_data_key_is_denied():
    code = """const getEventData = require('getEventData');
    const a = getEventData('user_data.email'); const b = getEventData('page_location');
    data.gtmOnSuccess();"""
    narrow = perm("read_event_data", eventDataAccess="specific", keyPatterns=["user_data"])
    result, _ = run(code, [narrow], event={"page_location": "x"})
    assert result.outcome is None
    assert "getEventData: permission denied by 'Reads event data' (read_event_data)" in result.error
    assert "'page_location' is not in keyPatterns ['user_data']" in result.error
    result, _ = run("require('getAllEventData')(); data.gtmOnSuccess();", [narrow])
    assert "reading all event data needs 'any'" in result.error


def test_promise_and_call_later_order():
    code = """const Promise = require('Promise'); const callLater = require('callLater');
    const log = require('logToConsole');
    callLater(() => log('later'));
    Promise.create((resolve) => resolve(1)).then(() => log('then'));
    Promise.all([Promise.create((r) => r('a')), 'b']).then((v) => log(v.join('+')));
    log('sync');
    data.gtmOnSuccess();"""
    result, _ = run(code, [LOG_ALL])
    assert result.logs == ["sync", "then", "a+b", "later"]


@pytest.fixture
def destination(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/ok").respond_with_data(
        '{"fine":true}', status=201, content_type="application/json"
    )
    return httpserver


SEND_ANY = perm("send_http", allowedUrls="any")


def _env(server: HTTPServer) -> Environment:
    return Environment(routes={"api.example.com": server.url_for("/").rstrip("/")})


def test_send_http_request_promise_form(destination: HTTPServer):
    code = """const sendHttpRequest = require('sendHttpRequest'); const log = require('logToConsole');
    sendHttpRequest('https://api.example.com/ok?k=1', {method: 'POST', headers: {'x-a': 'b'}}, 'hi')
      .then((r) => { log(r.statusCode, r.body, r.headers['content-type']); data.gtmOnSuccess(); });"""
    result, _ = run(code, [SEND_ANY, LOG_ALL], env=_env(destination))
    assert result.outcome == "success", result.error
    assert result.logs == ['201 {"fine":true} application/json']
    req, _ = destination.log[0]
    assert req.method == "POST" and req.args["k"] == "1" and req.headers["x-a"] == "b"
    assert req.get_data() == b"hi"


def test_send_http_request_callback_form_and_timeout(destination: HTTPServer):
    code = """const sendHttpRequest = require('sendHttpRequest'); const log = require('logToConsole');
    sendHttpRequest('https://api.example.com/ok', (status, headers, body) => log('cb', status));"""
    result, _ = run(code, [SEND_ANY, LOG_ALL], env=_env(destination))
    assert result.logs == ["cb 201"]

    # The answer is withheld until the run is over: the run can only end (with the rejection)
    # if it did not wait for it. No wall-clock threshold, so a loaded machine cannot fail it.
    release, answered = threading.Event(), threading.Event()

    def held(_request):
        release.wait(30)
        answered.set()
        return WResponse("late")

    destination.expect_request("/held").respond_with_handler(held)
    code = """const log = require('logToConsole');
    require('sendHttpRequest')('https://api.example.com/held', {timeout: 100})
      .then(() => log('no'), (e) => { log('rejected', e.reason); data.gtmOnFailure(); });"""
    try:
        result, _ = run(code, [SEND_ANY, LOG_ALL], env=_env(destination), timeout=20.0)
        assert not answered.is_set()
    finally:
        release.set()
    assert "rejected timed_out" in result.logs
    assert result.outcome == "failure" and result.error is None


def test_send_http_outside_the_allowed_urls_fails_like_gtm():
    code = """require('sendHttpRequest')('https://evil.example.org/x?access_token=SECRET');
    data.gtmOnSuccess();"""
    narrow = perm("send_http", allowedUrls="specific", urls=["https://graph.facebook.com/"])
    result, _ = run(code, [narrow])
    assert result.outcome is None
    assert "sendHttpRequest: permission denied by 'Sends HTTP requests' (send_http)" in result.error
    assert "'https://evil.example.org/x' does not match" in result.error
    assert "SECRET" not in result.error


def test_url_patterns_prefix_and_wildcard_hosts():
    from runtime.permissions import url_matches

    assert url_matches("https://graph.facebook.com/v16.0/1/events", "https://graph.facebook.com/")
    assert not url_matches("http://graph.facebook.com/v16.0", "https://graph.facebook.com/")
    assert url_matches("https://a.b.stape.io/x", "https://*.stape.io/*")
    assert not url_matches("https://stape.io.evil.com/x", "https://*.stape.io/*")
    assert not url_matches("https://graph.facebook.com/other", "https://graph.facebook.com/v1")


def test_unrouted_host_rejects_with_failed():
    code = """require('sendHttpRequest')('https://nowhere.example.com/').then(
      () => data.gtmOnSuccess(), (e) => { require('logToConsole')(e.reason); data.gtmOnFailure(); });"""
    result, _ = run(code, [SEND_ANY, LOG_ALL])
    assert result.outcome == "failure"
    assert "failed" in result.logs
    assert any("no --route for host 'nowhere.example.com'" in line for line in result.logs)


def test_template_data_storage_persists_across_runs():
    code = """const s = require('templateDataStorage');
    const before = s.getItemCopy('k');
    s.setItemCopy('k', {n: (before ? before.n : 0) + 1});
    return before;"""
    env = Environment()
    storage = [perm("access_template_storage")]
    assert value_of(code, storage, env=env) is None
    assert value_of(code, storage, env=env) == {"n": 1}
    assert value_of("return require('templateDataStorage').getItemCopy('nope') === null;", storage)


def test_bigquery_insert_records_rows_and_checks_tables():
    code = """require('BigQuery').insert({projectId: 'p', datasetId: 'd', tableId: 't'}, [{a: 1}])
      .then(data.gtmOnSuccess, data.gtmOnFailure);"""
    allowed = perm(
        "access_bigquery",
        allowedTables=[{"projectId": "p", "datasetId": "d", "tableId": "t", "operation": "write"}],
    )
    env = Environment()
    result, _ = run(code, [allowed], env=env)
    assert result.outcome == "success" and env.bigquery == {"p.d.t": [{"a": 1}]}
    other = code.replace("'t'}", "'other'}")
    result, _ = run(other, [allowed], env=env)
    assert "table p.d.other is not allowed for write" in result.error


def test_firestore_write_read_query():
    code = """const Firestore = require('Firestore'); const log = require('logToConsole');
    Firestore.write('users/u1', {plan: 'gold', n: 3}, {projectId: 'p'})
      .then(() => Firestore.write('users/u2', {plan: 'free', n: 1}, {projectId: 'p'}))
      .then(() => Firestore.read('users/u1', {projectId: 'p'}))
      .then((doc) => { log(doc.id, doc.data.plan);
        return Firestore.query('users', [['n', '>', 2]], {projectId: 'p'}); })
      .then((docs) => { log(docs.length, docs[0].id);
        return Firestore.read('users/none', {projectId: 'p'}); })
      .then(() => log('found?'), (e) => { log(e.reason); data.gtmOnSuccess(); });"""
    fs = perm(
        "access_firestore",
        allowedOptions=[{"projectId": "p", "path": "users/*", "operation": "read_write"}],
    )
    result, _ = run(code, [fs, LOG_ALL])
    assert result.error is None
    assert result.logs == ["u1 gold", "1 u1", "not_found"]


def test_cookies_read_from_the_request_and_set_on_the_response():
    code = """const get = require('getCookieValues'); const set = require('setCookie');
    set('_fbp', get('_fbp')[0] + '!', {domain: 'auto', path: '/', 'max-age': 60, secure: true});
    data.gtmOnSuccess();"""
    perms = [
        perm("get_cookies", cookieAccess="specific", cookieNames=["_fbp"]),
        perm(
            "set_cookies",
            allowedCookies=[
                {"name": "_fbp", "domain": "*", "path": "*", "secure": "any", "session": "any"}
            ],
        ),
    ]
    request = Request(headers=[("Cookie", "a=1; _fbp=fb.1.2; b=2"), ("Host", "shop.example.co.uk")])
    result, state = run(code, perms, request=request)
    assert result.outcome == "success", result.error
    assert state.response.cookies == [
        "_fbp=fb.1.2%21; Domain=example.co.uk; Path=/; Max-Age=60; Secure"
    ]
    result, _ = run("require('getCookieValues')('other'); data.gtmOnSuccess();", perms)
    assert "cookie 'other' is not in ['_fbp']" in result.error


def test_remote_address_prefers_forwarded_headers():
    code = "return require('getRemoteAddress')();"
    read = [perm("read_request", requestAccess="any")]
    fwd = Request(headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1")], remote_addr="10.0.0.1")
    assert value_of(code, read, request=fwd) == "203.0.113.7"
    assert value_of(code, read, request=Request(remote_addr="192.0.2.1")) == "192.0.2.1"


def test_hmac_sha256_reads_keys_from_sgtm_credentials(tmp_path: Path, monkeypatch):
    key = b"k" * 32
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps({"keys": {"kid1": base64.b64encode(key).decode()}}))
    code = """const h = require('hmacSha256');
    return [h('t.body', 'kid1', {outputEncoding: 'hex'}), h('t.body', 'kid1')];"""
    perms = [perm("use_custom_private_keys")]
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keyfile))
    digest = hmac.new(key, b"t.body", hashlib.sha256).digest()
    assert value_of(code, perms) == [
        digest.hex(),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    ]
    result, _ = run("require('hmacSha256')('x', 'kid2'); data.gtmOnSuccess();", perms)
    assert "key id 'kid2' is not in the SGTM_CREDENTIALS file" in result.error
    monkeypatch.delenv("SGTM_CREDENTIALS")
    result, _ = run("require('hmacSha256')('x', 'kid1'); data.gtmOnSuccess();", perms)
    assert "environment variable SGTM_CREDENTIALS is not set" in result.error


def test_apis_not_emulated_fail_clearly():
    result, _ = run("require('extractEventsFromMpv2')(); data.gtmOnSuccess();")
    assert "extractEventsFromMpv2 is not supported by the local runtime" in result.error
    result, _ = run("require('getGoogleScript')('ANALYTICS', () => 1); data.gtmOnSuccess();")
    assert "getGoogleScript is not supported by the local runtime" in result.error


def test_logging_needs_the_permission_and_debug_only_is_dropped_in_production():
    code = "require('logToConsole')('hello'); data.gtmOnSuccess();"
    result, _ = run(code, [])
    assert "logToConsole: permission denied by 'Logs to console' (logging)" in result.error
    result, _ = run(code, [perm("logging", environments="debug")], env=Environment(debug=False))
    assert result.outcome == "success" and result.logs == []
    result, _ = run(code, [perm("logging", environments="debug")], env=Environment(debug=True))
    assert result.logs == ["hello"]


def test_request_allow_lists_apply_only_under_specific_access():
    # stape data-client declares headerAccess 'specific' with no list under requestAccess 'any'
    # and reads any header: GTM ignores the nested list there.
    code = "return require('getRequestHeader')('origin');"
    request = Request(headers=[("Origin", "https://shop.example.com")])
    loose = perm("read_request", requestAccess="any", headerAccess="specific")
    assert value_of(code, [loose], request=request) == "https://shop.example.com"
    strict = perm(
        "read_request",
        requestAccess="specific",
        headersAllowed=True,
        headerAccess="specific",
        headerWhitelist=[{"headerName": "referer"}],
    )
    result, _ = run(code.replace("return", "data.gtmOnSuccess();"), [strict], request=request)
    assert "header 'origin' is not in the header allow-list" in result.error
    response = perm(
        "access_response",
        writeResponseAccess="specific",
        writeStatusAllowed=True,
        writeHeadersAllowed=True,
        writeHeaderAccess="specific",
        writeHeaderWhitelist=[{"headerName": "content-type"}],
    )
    result, _ = run(
        "require('setResponseHeader')('x-other', '1'); data.gtmOnSuccess();", [response]
    )
    assert "response header 'x-other' is not in ['content-type']" in result.error


def test_runaway_loop_is_stopped_and_host_calls_keep_working():
    code = """const log = require('logToConsole');
    log('before');
    let n = 0;
    while (true) { n = n + require('makeInteger')('1'); }"""
    started = time.monotonic()
    result, _ = run(code, [LOG_ALL], timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2.0
    assert result.logs == ["before"]
    assert "stopped runaway code: the run exceeded 0.5s" in result.error
    assert "t.tpl:" in result.error


def test_endless_call_later_chain_and_recursion_are_stopped():
    chain = """const callLater = require('callLater');
    function again() { callLater(again); }
    again();"""
    result, _ = run(chain, timeout=0.3)
    assert "stopped" in result.error and "0.3s" in result.error
    recursion = "function f(n) { return f(n + 1) + 1; }\nf(0);"
    result, _ = run(recursion, timeout=2.0)
    assert "stack overflow" in result.error


def test_errors_name_the_template_file_line():
    code = "const a = 1;\nconst b = null;\nb.c = a;\ndata.gtmOnSuccess();"
    result, _ = run(code)
    # render_tpl puts the code section at line 11 of the file (BOM line, INFO, PARAMETERS).
    assert result.error.startswith("t.tpl:") and "cannot set property 'c' of null" in result.error
    line = int(result.error.split(":")[1])
    assert line == _code_line() + 2


def _code_line() -> int:
    from formats.tpl import parse_tpl
    from tests.runtime.helpers import tpl_text

    return parse_tpl(tpl_text("x"), "t.tpl").code_line


def test_claim_and_run_container_order_errors():
    late = """const claim = require('claimRequest');
    require('callLater')(() => claim());"""
    result, _ = run(late, kind="CLIENT")
    assert "Tried to claim a request after a Client had returned" in result.error
    early = "require('runContainer')({event_name: 'x'}, () => {});"
    result, _ = run(early, [perm("run_container")], kind="CLIENT")
    assert "Request must be claimed before calling runContainer." in result.error
    result, _ = run("require('claimRequest')(); data.gtmOnSuccess();", kind="TAG")
    assert "claimRequest can only be called from a client" in result.error


def test_encoding_and_url_helpers():
    code = """const parseUrl = require('parseUrl');
    const u = parseUrl('https://shop.example.com:8443/p/a?x=1&x=2&y=%20z#h');
    return [u.hostname, u.port, u.pathname, u.search, u.searchParams, u.hash,
            parseUrl('not a url'), require('toBase64')('é'), require('fromBase64')('w6k='),
            require('fromBase64')('%%%'), require('decodeUriComponent')('%E0%A4%A'),
            require('computeEffectiveTldPlusOne')('https://a.b.example.co.uk/x'),
            require('makeInteger')('42.9'), require('makeNumber')('x'), require('getType')([]),
            require('makeTableMap')([{k: 'a', v: 1}], 'k', 'v'),
            require('testRegex')(require('createRegex')('^ab+$', 'i'), 'ABB')];"""
    assert value_of(code) == [
        "shop.example.com",
        "8443",
        "/p/a",
        "?x=1&x=2&y=%20z",
        {"x": ["1", "2"], "y": " z"},
        "#h",
        None,
        "w6k=",
        "é",
        None,
        None,
        "example.co.uk",
        42,
        None,  # NaN has no JSON form
        "array",
        {"a": 1},
        True,
    ]


def test_macro_promise_value_is_awaited():
    code = """const Promise = require('Promise');
    return Promise.create((resolve) => require('callLater')(() => resolve('late')));"""
    assert value_of(code) == "late"


def test_private_key_permission_lists_the_usable_key_ids(tmp_path: Path, monkeypatch):
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps({"keys": {"a": "YWFh", "b": "YmJi"}}))
    monkeypatch.setenv("SGTM_CREDENTIALS", str(keyfile))
    perms = [perm("use_custom_private_keys", keyIds=["a"])]
    code = """const q = require('queryPermission');
    return [q('use_custom_private_keys', 'a'), q('use_custom_private_keys', 'b'),
            require('hmacSha256')('x', 'a', {outputEncoding: 'hex'})];"""
    expected = hmac.new(b"aaa", b"x", hashlib.sha256).hexdigest()
    assert value_of(code, perms) == [True, False, expected]
    result, _ = run("require('hmacSha256')('x', 'b'); data.gtmOnSuccess();", perms)
    assert "hmacSha256: permission denied by 'Uses custom private keys'" in result.error
    assert "key id 'b' is not allowed" in result.error


def test_firestore_transaction_collects_the_written_document_ids():
    code = """const Firestore = require('Firestore');
    Firestore.runTransaction((tx) => Firestore.write('carts/c1', {n: 1}, {projectId: 'p', transaction: tx})
        .then(() => Firestore.write('carts/c2', {n: 2}, {projectId: 'p', transaction: tx})),
      {projectId: 'p'})
      .then((ids) => { require('logToConsole')(ids); data.gtmOnSuccess(); });"""
    fs = perm("access_firestore", allowedOptions=[{"projectId": "p", "path": "carts/*"}])
    env = Environment()
    result, _ = run(code, [fs, LOG_ALL], env=env)
    assert result.outcome == "success", result.error
    assert result.logs == ['["c1","c2"]']
    assert env.firestore == {"p/carts/c1": {"n": 1}, "p/carts/c2": {"n": 2}}


def test_send_http_get_both_forms(destination: HTTPServer):
    code = """const get = require('sendHttpGet'); const log = require('logToConsole');
    get('https://api.example.com/ok', (status) => log('cb', status));
    get('https://api.example.com/ok', {headers: {'x-b': 'c'}}).then((r) => {
      log('promise', r.statusCode); data.gtmOnSuccess(); });"""
    result, _ = run(code, [SEND_ANY, LOG_ALL], env=_env(destination))
    assert result.outcome == "success", result.error
    assert sorted(result.logs) == ["cb 201", "promise 201"]
    assert [req.method for req, _ in destination.log] == ["GET", "GET"]
    narrow = perm("send_http", allowedUrls="specific", urls=["https://other.example.com/"])
    result, _ = run("require('sendHttpGet')('https://api.example.com/ok');", [narrow])
    assert result.error.split(": ", 1)[1].startswith("sendHttpGet: permission denied")


GOOGLE_AUTH_CODE = """const sendHttpRequest = require('sendHttpRequest');
const getGoogleAuth = require('getGoogleAuth');
sendHttpRequest('https://api.example.com/ok', {method: 'POST',
  authorization: getGoogleAuth({scopes: ['https://www.googleapis.com/auth/adwords']})}, '{}')
  .then(() => data.gtmOnSuccess(), () => data.gtmOnFailure());"""
GOOGLE_AUTH = perm(
    "use_google_credentials", allowedScopes=["https://www.googleapis.com/auth/adwords"]
)


def test_google_auth_without_a_local_token_fails_loudly(destination: HTTPServer, monkeypatch):
    monkeypatch.delenv("SGTM_GOOGLE_ACCESS_TOKEN", raising=False)
    result, _ = run(GOOGLE_AUTH_CODE, [SEND_ANY, GOOGLE_AUTH], env=_env(destination))
    assert result.outcome is None
    assert "not supported by the local runtime unless SGTM_GOOGLE_ACCESS_TOKEN" in result.error
    assert destination.log == []


def test_google_auth_signs_with_the_local_token(destination: HTTPServer, monkeypatch):
    monkeypatch.setenv("SGTM_GOOGLE_ACCESS_TOKEN", "local-token")
    result, _ = run(GOOGLE_AUTH_CODE, [SEND_ANY, GOOGLE_AUTH], env=_env(destination))
    assert result.outcome == "success", result.error
    req, _ = destination.log[-1]
    assert req.headers["Authorization"] == "Bearer local-token"


# Sentences quoted from developers.google.com/tag-platform/tag-manager/server-side/api (read
# through the reference notes, sgtm-templates.md 3.3, and stape's restatement of the page).


def test_test_regex_with_the_global_flag_keeps_its_state_between_calls():
    """testRegex: "A regex with the global flag is stateful" (as RegExp.prototype.test: the
    next search starts at lastIndex)."""
    code = """const testRegex = require('testRegex');
    const g = require('createRegex')('a', 'g');
    const plain = require('createRegex')('a');
    return [testRegex(g, 'a'), testRegex(g, 'a'), testRegex(g, 'a'),
            testRegex(plain, 'a'), testRegex(plain, 'a')];"""
    assert value_of(code) == [True, False, True, True, True]


def test_create_regex_ignores_flag_characters_other_than_g_and_i():
    """createRegex: "'g' (global) and 'i' (ignore case) flags are supported. All other
    characters are silently ignored." An invalid pattern is still null."""
    code = """const createRegex = require('createRegex');
    const testRegex = require('testRegex');
    const re = createRegex('^ab$', 'mxiy!');
    return [re === null, testRegex(re, 'AB'), createRegex('^ab$', 'u') === null,
            createRegex('(', 'i')];"""
    assert value_of(code) == [False, True, False, None]


def test_compute_effective_tld_plus_one_edge_cases():
    """computeEffectiveTldPlusOne: "Returns a blank string if the argument is not a valid domain
    or URL. Returns the argument unaltered if it is null/undefined"."""
    code = """const f = require('computeEffectiveTldPlusOne');
    return [f('www.example.co.uk'), f('https://a.b.example.com:8443/x?y'), f('not a domain'),
            f('com'), f('co.uk'), f(''), f('localhost'), f('1.2.3.4'), f(null),
            f(undefined) === undefined];"""
    assert value_of(code) == [
        "example.co.uk",
        "example.com",
        "",
        "",
        "",
        "",
        "",
        "",
        None,
        True,
    ]
