"""sendMessage / addMessageListener / hasMessageListener: tag -> client messages, scoped to the
client's events, under the use_message permission."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.container import ContainerRuntime, load_container
from runtime.environment import Environment
from runtime.host import Request
from tests.runtime.helpers import container, event_trigger, param, perm, run, tpl_text

# Runs one container event per element of the posted array. Each event gets a listener bound
# to it; one unbound listener hears every event.
CLIENT = """const JSON = require('JSON');
const addMessageListener = require('addMessageListener');
const hasMessageListener = require('hasMessageListener');
require('claimRequest')();
const events = JSON.parse(require('getRequestBody')());
const out = { bound: [], all: [], hasBefore: hasMessageListener('note') };
addMessageListener('note', (type, message) => {
  out.all.push(type + ':' + message.from);
  message.from = 'changed by the client';
});
let pending = events.length;
events.forEach((ev, i) => {
  out.bound.push([]);
  require('runContainer')(ev, () => {
    pending--;
    if (pending === 0) {
      require('setResponseBody')(JSON.stringify(out));
      require('returnResponse')();
    }
  }, (bindToEvent) => {
    bindToEvent(addMessageListener)('note', (type, message) => out.bound[i].push(message.from));
    if (data.failingListener) {
      bindToEvent(addMessageListener)('note', () => data.listenerBroke.now());
    }
  });
});"""
LISTEN = perm(
    "use_message",
    allowedActions="specific",
    messageTypes=[{"type": "note", "action": "listen"}],
)
CLIENT_PERMS = [
    perm("read_request", requestAccess="any"),
    perm("run_container"),
    perm("return_response"),
    perm("access_response", writeResponseAccess="any"),
]
TAG = """const sendMessage = require('sendMessage');
const hasMessageListener = require('hasMessageListener');
const message = { from: data.name + '/' + require('getEventData')('n') };
const heard = hasMessageListener('note') ? 'yes' : 'no';
const other = hasMessageListener('other') ? 'yes' : 'no';
sendMessage(data.type || 'note', message);
require('setResponseHeader')('x-' + data.name, heard + ',' + other + ',' + message.from);
data.gtmOnSuccess();"""
SEND = perm(
    "use_message",
    allowedActions="specific",
    messageTypes=[{"type": "note", "action": "send"}, {"type": "other", "action": "listen"}],
)
TAG_PERMS = [
    perm("read_event_data", eventDataAccess="any"),
    perm("access_response", writeResponseAccess="any"),
]


def _serve(tmp_path: Path, events: list, client_perm=LISTEN, tag_perm=SEND, **client_params):
    tags = [
        {
            "tagId": f"t-{name}",
            "name": name,
            "type": "cvt_11_2",
            "parameter": [param("name", name)],
            "firingTriggerId": ["1"],
        }
        for name in ("a", "b")
    ]
    path = container(
        tmp_path / "c.json",
        templates={
            "1": tpl_text(CLIENT, [*CLIENT_PERMS, client_perm], "CLIENT"),
            "2": tpl_text(TAG, [*TAG_PERMS, tag_perm]),
        },
        clients=[
            {
                "clientId": "c",
                "name": "C",
                "type": "cvt_11_1",
                "parameter": [param(k, v) for k, v in client_params.items()],
            }
        ],
        tags=tags,
        triggers=[event_trigger("1", "e")],
    )
    runtime = ContainerRuntime(load_container(path), Environment())
    handled = runtime.handle(Request(method="POST", path="/", body=json.dumps(events).encode()))
    body = json.loads(handled.response.body) if handled.response.body else None
    return handled, body


def test_each_tag_message_reaches_the_listeners_of_its_own_event(tmp_path: Path):
    events = [{"event_name": "e", "n": 1}, {"event_name": "e", "n": 2}]
    handled, body = _serve(tmp_path, events)
    assert handled.errors == []
    assert body == {
        "hasBefore": False,
        "bound": [["a/1", "b/1"], ["a/2", "b/2"]],
        "all": ["note:a/1", "note:b/1", "note:a/2", "note:b/2"],
    }
    headers = {k: v for k, (_, v) in handled.response.headers.items() if k.startswith("x-")}
    # The tag's own object is untouched by the client's listener: each side has its copy.
    assert headers == {"x-a": "yes,no,a/2", "x-b": "yes,no,b/2"}


def test_a_send_without_the_permission_fails_the_tag_by_name(tmp_path: Path):
    only_other = perm(
        "use_message",
        allowedActions="specific",
        messageTypes=[{"type": "note", "action": "listen"}, {"type": "other", "action": "listen"}],
    )
    handled, body = _serve(tmp_path, [{"event_name": "e", "n": 1}], tag_perm=only_other)
    assert body["bound"] == [[]]
    assert [t.status for t in handled.tags] == ["exception", "exception"]
    error = handled.tags[0].error or ""
    assert "sendMessage: permission denied by 'Uses messages' (use_message)" in error
    assert "send of message type 'note'" in error


def test_a_listener_needs_listen_and_listen_and_send_grants_both(tmp_path: Path):
    send_only = perm(
        "use_message", allowedActions="specific", messageTypes=[{"type": "note", "action": "send"}]
    )
    handled, body = _serve(tmp_path, [{"event_name": "e", "n": 1}], client_perm=send_only)
    assert body is None
    assert any("addMessageListener: permission denied" in e for e in handled.errors)

    both = perm(
        "use_message",
        allowedActions="specific",
        messageTypes=[
            {"type": "note", "action": "listen_and_send"},
            {"type": "other", "action": "listen_and_send"},
        ],
    )
    any_action = perm("use_message", allowedActions="any")
    for client_perm, tag_perm in ((both, both), (any_action, any_action)):
        handled, body = _serve(
            tmp_path, [{"event_name": "e", "n": 3}], client_perm=client_perm, tag_perm=tag_perm
        )
        assert body["bound"] == [["a/3", "b/3"]], client_perm


def test_a_throwing_listener_is_a_client_error_and_the_tag_still_succeeds(tmp_path: Path):
    handled, body = _serve(tmp_path, [{"event_name": "e", "n": 1}], failingListener=True)
    assert body["bound"] == [["a/1", "b/1"]]
    assert [t.status for t in handled.tags] == ["success", "success"]
    assert any("#tpl 1:42: TypeError: cannot read property 'now'" in e for e in handled.errors), (
        handled.errors
    )


def test_outside_a_container_nobody_listens_and_a_send_is_a_no_op():
    code = """const sendMessage = require('sendMessage');
if (require('hasMessageListener')('note')) data.gtmOnFailure();
sendMessage('note', {x: 1});
data.gtmOnSuccess();"""
    result, _ = run(code, [SEND])
    assert result.error is None and result.outcome == "success"
    denied, _ = run(code, [])
    assert denied.outcome is None
    assert "hasMessageListener: permission denied by 'Uses messages'" in (denied.error or "")
