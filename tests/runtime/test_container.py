"""Container semantics without HTTP: client priority, triggers, variables, event callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.container import ContainerError, ContainerRuntime, load_container
from runtime.environment import Environment
from runtime.host import Request
from tests.conftest import corpus_path
from tests.runtime.helpers import condition, container, event_trigger, param, perm, tpl_text

CLIENT = """const claim = require('claimRequest'); const JSON = require('JSON');
if (require('getRequestPath')() !== data.path) return;
claim();
const ev = JSON.parse(require('getRequestBody')());
const seen = [];
require('runContainer')(ev, () => {
  require('setResponseBody')(JSON.stringify({client: data.label, tags: seen}));
  require('returnResponse')();
}, (bindToEvent) => {
  bindToEvent(require('addEventCallback'))((cid, eventData) => {
    eventData.tags.forEach((t) => seen.push([t.destination, t.status, t.tag_name]));
  });
});"""
CLIENT_PERMS = [
    perm("read_request", requestAccess="any"),
    perm("run_container"),
    perm("return_response"),
    perm("access_response", writeResponseAccess="any"),
    perm("read_event_metadata"),
]
TAG = """const log = require('logToConsole');
require('addEventCallback')((cid, eventData) => log('callback sees', eventData.tags.length));
if (data.fail) data.gtmOnFailure(); else data.gtmOnSuccess();
require('setResponseHeader')('x-' + data.name, require('makeString')(data.value));"""
TAG_PERMS = [
    perm("read_event_metadata"),
    perm("logging", environments="all"),
    perm("access_response", writeResponseAccess="any"),
]


def _tag(name: str, trigger: str, value: str = "", **extra) -> dict:
    return {
        "tagId": f"t-{name}",
        "name": name,
        "type": "cvt_11_2",
        "parameter": [
            param("name", name),
            param("value", value),
            param("fail", extra.pop("fail", False)),
        ],
        "firingTriggerId": [trigger],
        "monitoringMetadata": {"type": "MAP", "map": [param("destination", name.split("-")[0])]},
        "monitoringMetadataTagNameKey": "tag_name",
        **extra,
    }


def _container(
    tmp_path: Path, tags: list[dict], variables: list[dict] | None = None, client: str = CLIENT
) -> Path:
    return container(
        tmp_path / "c.json",
        templates={"1": tpl_text(client, CLIENT_PERMS, "CLIENT"), "2": tpl_text(TAG, TAG_PERMS)},
        clients=[
            {
                "clientId": "a",
                "name": "Low",
                "type": "cvt_11_1",
                "priority": 1,
                "parameter": [param("path", "/e"), param("label", "low")],
            },
            {
                "clientId": "b",
                "name": "High",
                "type": "cvt_11_1",
                "priority": 9,
                "parameter": [param("path", "/e"), param("label", "high")],
            },
            {"clientId": "g", "name": "GA4", "type": "gaaw_client"},
        ],
        tags=tags,
        triggers=[
            event_trigger("1", "purchase"),
            {
                "triggerId": "2",
                "name": "not purchase",
                "type": "ALWAYS",
                "filter": [condition("EQUALS", "{{Event Name}}", "purchase", negate=True)],
            },
            {
                "triggerId": "3",
                "name": "high value",
                "type": "ALWAYS",
                "filter": [condition("GREATER_OR_EQUALS", "{{Value}}", "100")],
            },
        ],
        variables=variables
        or [
            {
                "variableId": "v",
                "name": "Value",
                "type": "ed",
                "parameter": [param("keyPath", "value")],
            }
        ],
    )


def _handle(path: Path, event: dict, env: Environment | None = None):
    runtime = ContainerRuntime(load_container(path), env or Environment())
    handled = runtime.handle(Request(method="POST", path="/e", body=json.dumps(event).encode()))
    return handled, json.loads(handled.response.body or b"{}")


def test_highest_priority_client_claims_and_sees_bound_event_callbacks(tmp_path: Path):
    tags = [_tag("meta-a", "1", "1"), _tag("ga4-b", "1", "2", fail=True), _tag("x-c", "2")]
    handled, body = _handle(_container(tmp_path, tags), {"event_name": "purchase"})
    assert handled.client == "High"
    assert body == {
        "client": "high",
        "tags": [["meta", "success", "meta-a"], ["ga4", "failure", "ga4-b"]],
    }
    assert {k: v for k, (_, v) in handled.response.headers.items() if k.startswith("x-")} == {
        "x-meta-a": "1",
        "x-ga4-b": "2",
    }


# The callback registration of CLIENT with the two forms Google does not document: called
# unbound, and with the callback bound instead of addEventCallback.
UNBOUND = {
    "unbound": "require('addEventCallback')((cid, eventData) => seen.push(1));",
    "callback bound instead": "require('addEventCallback')(bindToEvent((cid, ed) => seen.push(1)));",
}


@pytest.mark.parametrize("form", sorted(UNBOUND))
def test_a_client_calling_add_event_callback_unbound_fails_as_gtm_documents(
    tmp_path: Path, form: str
):
    """developers.google.com/tag-platform/tag-manager/server-side/api#addeventcallback: "When
    this API is used in a client, it must be bound to a specific event using the runContainer
    API's bindToEvent function." Only bindToEvent(addEventCallback)(cb) is that."""
    documented = "bindToEvent(require('addEventCallback'))((cid, eventData) => {"
    start = CLIENT.index(documented)
    end = CLIENT.index("});", start) + len("});")
    client = CLIENT[:start] + UNBOUND[form] + CLIENT[end:]
    handled, _ = _handle(_container(tmp_path, [_tag("meta-a", "1", "1")], client=client), {})
    lines = tpl_text(client).split("\n")
    line = next(i for i, text in enumerate(lines, start=1) if UNBOUND[form] in text)
    column = 1 + lines[line - 1].index("require('addEventCallback')")
    (error,) = [e for e in handled.errors if "addEventCallback" in e]
    assert f"#tpl 1:{line}:{column}: addEventCallback called unbound from a client" in error
    assert "bindToEvent(addEventCallback)((containerId, eventData) => {...})" in error


def test_tag_priority_orders_firing_and_negated_conditions_select(tmp_path: Path):
    tags = [
        _tag("late", "2"),
        {**_tag("early", "2"), "priority": {"type": "INTEGER", "value": "10"}},
        _tag("never", "1"),
    ]
    handled, _ = _handle(_container(tmp_path, tags), {"event_name": "page_view"})
    assert [t.name for t in handled.tags] == ["early", "late"]


def test_numeric_conditions_and_tag_event_callbacks(tmp_path: Path):
    env = Environment(debug=True)
    logs: list[str] = []
    env.log_sink = logs.append
    tags = [_tag("big", "3")]
    handled, _ = _handle(_container(tmp_path, tags), {"event_name": "x", "value": 250}, env)
    assert [(t.name, t.status) for t in handled.tags] == [("big", "success")]
    assert any("callback sees 1" in line for line in logs)
    handled, _ = _handle(_container(tmp_path, tags), {"event_name": "x", "value": 99})
    assert handled.tags == []


def test_variables_lookup_regex_default_and_custom_template(tmp_path: Path):
    macro = tpl_text("return data.a + '-' + data.b;", [], "MACRO")
    variables = [
        {"name": "Name", "type": "ed", "parameter": [param("keyPath", "event_name")]},
        {
            "name": "Missing",
            "type": "ed",
            "parameter": [
                param("keyPath", "nope"),
                param("setDefaultValue", True),
                param("defaultValue", "dflt"),
            ],
        },
        {
            "name": "Lookup",
            "type": "smm",
            "parameter": [
                param("input", "{{Name}}"),
                param("map", [{"key": "purchase", "value": "Purchase"}]),
            ],
        },
        {
            "name": "Regex",
            "type": "remm",
            "parameter": [
                param("input", "{{Name}}"),
                param("fullMatch", True),
                param("replaceAfterMatch", True),
                param("map", [{"key": "pur(.*)", "value": "P-$1"}]),
            ],
        },
        {
            "name": "Joined",
            "type": "cvt_11_3",
            "parameter": [param("a", "{{Lookup}}"), param("b", "{{Missing}}")],
        },
        {"name": "Value", "type": "ed", "parameter": [param("keyPath", "value")]},
    ]
    path = _container(tmp_path, [_tag("v", "1", "{{Joined}}|{{Regex}}")], variables)
    doc = json.loads(path.read_text())
    doc["containerVersion"]["customTemplate"].append(
        {"containerId": "11", "templateId": "3", "name": "m", "templateData": macro}
    )
    path.write_text(json.dumps(doc))
    handled, _ = _handle(path, {"event_name": "purchase"})
    assert handled.response.headers["x-v"][1] == "Purchase-dflt|P-chase"


def test_unclaimed_request_and_builtin_types(tmp_path: Path):
    tags = [_tag("ok", "1"), {**_tag("ga4", "1"), "type": "sgtmgaaw"}]
    path = _container(tmp_path, tags)
    loaded = load_container(path)
    assert any("'GA4' is GTM's built-in 'gaaw_client'" in w for w in loaded.warnings)
    runtime = ContainerRuntime(loaded, Environment())
    assert runtime.handle(Request(method="POST", path="/other")).client is None
    handled, _ = _handle(path, {"event_name": "purchase"})
    assert [(t.name, t.status) for t in handled.tags] == [
        ("ok", "success"),
        ("ga4", "not_supported"),
    ]
    assert (
        "built-in tag type 'sgtmgaaw' is not supported by the local runtime"
        in handled.tags[1].error
    )


def test_broken_exports_report_json_pointers(tmp_path: Path):
    path = _container(tmp_path, [{**_tag("x", "1"), "type": "cvt_11_404"}])
    doc = json.loads(path.read_text())
    doc["containerVersion"]["customTemplate"][1]["templateData"] = tpl_text("const a = this;")
    doc["containerVersion"]["trigger"][0]["type"] = "PAGEVIEW"
    path.write_text(json.dumps(doc))
    with pytest.raises(ContainerError) as err:
        load_container(path)
    problems = err.value.problems
    assert any(
        p.startswith("/containerVersion/customTemplate/1/templateData:") and "'this'" in p
        for p in problems
    )
    assert (
        "/containerVersion/trigger/0/type: 'PAGEVIEW': server containers use CUSTOM_EVENT or ALWAYS"
        in problems
    )
    assert (
        "/containerVersion/tag/0/type: template 'cvt_11_404' is not in customTemplate" in problems
    )
    path.write_text("{not json")
    with pytest.raises(ContainerError) as err:
        load_container(path)
    assert err.value.problems == [
        "line 1 column 2: not JSON: Expecting property name enclosed in double quotes"
    ]


SERVER_EXPORTS = [
    "google-marketing-solutions__gps-phoebe__phoebe_demo_server_container.json",
    "google-marketing-solutions__gtm-boilerplate__server-container.json",
    "laseryshow-del__FINAL__GTM-T2ZQP7WV_workspace77.json",
    "laseryshow-del__Mi-configuraci-n-gtm__GTM-T2ZQP7WV_v56.json",
    "sperciky__variable-monitoring__sgtm_container.json",
    "techonlinebd09__GTM-Containers__server_container.json",
    "yanjumper__gtm_creamy__gtm-server.json",
]


@pytest.mark.parametrize("name", SERVER_EXPORTS)
def test_every_real_server_export_loads(name: str):
    """All custom templates of the real exports (62 in Heureka's) pass the static check and
    every reference resolves; GTM's built-in entities only warn."""
    path = corpus_path() / name
    assert path.exists(), f"{path} is listed here but not in the corpus"
    doc = json.loads(path.read_text("utf-8"))["containerVersion"]
    loaded = load_container(path)
    assert len(loaded.tags) == len(doc.get("tag") or [])
    assert {t.tpl.source.split("#", 1)[1] for t in loaded.templates.values()} == {
        t["name"] for t in doc.get("customTemplate") or []
    }


def test_real_container_runs_stape_data_client_and_facebook_tag(httpserver):
    """A production export (stape Data Client + stape Facebook CAPI tag, both unmodified)
    answers a Data Client request and sends two CAPI events to the routed stand-in."""
    path = corpus_path() / "laseryshow-del__FINAL__GTM-T2ZQP7WV_workspace77.json"
    assert path.exists(), f"{path} is named here but not in the corpus"
    httpserver.expect_request("/v24.0/25699472449663830/events", method="POST").respond_with_json(
        {}
    )
    env = Environment(routes={"graph.facebook.com": httpserver.url_for("/").rstrip("/")})
    runtime = ContainerRuntime(load_container(path), env)
    body = {
        "event_name": "page_view",
        "page_location": "https://shop.example.com/",
        "user_agent": "UA",
        "ip_override": "203.0.113.9",
    }
    handled = runtime.handle(
        Request(
            method="POST",
            path="/data",
            body=json.dumps(body).encode(),
            headers=[("Host", "ss.shop.example.com"), ("Origin", "https://shop.example.com")],
        )
    )
    assert handled.client == "Stape Data Client" and handled.errors == []
    assert handled.response.returned and handled.response.status == 200
    assert [(t.name, t.status) for t in handled.tags] == [
        ("Meta CAPI - PageView", "success"),
        ("[Stape] Meta - PageView", "success"),
    ]
    sent = [json.loads(req.get_data()) for req, _ in httpserver.log]
    assert [s["data"][0]["event_name"] for s in sent] == ["PageView", "PageView"]
    assert all(s["data"][0]["user_data"]["client_ip_address"] == "203.0.113.9" for s in sent)
