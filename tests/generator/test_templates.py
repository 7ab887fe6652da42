"""The generated .tpl files: sections, byte layout, sandbox syntax, and permissions that match
exactly what each template's code uses."""

from __future__ import annotations

import re

import pytest

from formats.plan import Plan
from formats.tpl import Tpl, render_tpl
from generator.render.templates import DEFAULT_KEY_IDS, GA4_HOSTS
from runtime import syntax
from runtime.permissions import url_matches

KINDS = ["client", "ga4", "meta_capi", "google_ads", "bigquery", "http"]

# Which permission each sandbox API needs (sgtm-templates.md §2.1), written out here rather than
# imported from the generator so the two cannot agree by construction.
API_PERMISSION = {
    "addEventCallback": "read_event_metadata",
    "addMessageListener": "use_message",
    "BigQuery": "access_bigquery",
    "getAllEventData": "read_event_data",
    "getClientName": "read_container_data",
    "getContainerVersion": "read_container_data",
    "getEventData": "read_event_data",
    "getGoogleAuth": "use_google_credentials",
    "getRemoteAddress": "read_request",
    "getRequestBody": "read_request",
    "getRequestHeader": "read_request",
    "getRequestMethod": "read_request",
    "getRequestPath": "read_request",
    "getRequestQueryParameter": "read_request",
    "hasMessageListener": "use_message",
    "hmacSha256": "use_custom_private_keys",
    "logToConsole": "logging",
    "returnResponse": "return_response",
    "runContainer": "run_container",
    "sendHttpGet": "send_http",
    "sendHttpRequest": "send_http",
    "sendMessage": "use_message",
    "setResponseBody": "access_response",
    "setResponseHeader": "access_response",
    "setResponseStatus": "access_response",
}
# sgtm-templates.md §2.2: APIs that need no permission.
NO_PERMISSION = {
    "callLater",
    "claimRequest",
    "createRegex",
    "encodeUriComponent",
    "generateRandom",
    "getTimestampMillis",
    "getType",
    "JSON",
    "makeInteger",
    "makeNumber",
    "makeString",
    "Math",
    "Object",
    "Promise",
    "queryPermission",
    "sha256Sync",
    "testRegex",
}
REQUIRE = re.compile(r"^const (\w+) = require\('(\w+)'\);$", re.M)


def requires(code: str) -> list[str]:
    names = [(local, api) for local, api in REQUIRE.findall(code)]
    assert all(local == api for local, api in names), names
    return [api for _, api in names]


def test_every_kind_is_generated(tpls: dict[str, Tpl]) -> None:
    assert sorted(tpls) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_sections_and_info(tpls: dict[str, Tpl], kind: str) -> None:
    tpl = tpls[kind]
    assert list(tpl.sections) == [
        "INFO",
        "TEMPLATE_PARAMETERS",
        "SANDBOXED_JS_FOR_SERVER",
        "SERVER_PERMISSIONS",
        "TESTS",
        "NOTES",
    ]
    assert tpl.type == ("CLIENT" if kind == "client" else "TAG")
    assert tpl.info["containerContexts"] == ["SERVER"]
    assert tpl.info["id"] == "cvt_temp_public_id"
    names = [p["name"] for p in tpl.parameters]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind", KINDS)
def test_byte_layout_round_trips(files: dict[str, str], tpls: dict[str, Tpl], kind: str) -> None:
    tpl = tpls[kind]
    text = files[f"templates/{kind}.tpl"]
    assert text.startswith("\ufeff\n___INFO___\n\n") and "\r" not in text
    again = render_tpl(
        info=tpl.info,
        parameters=tpl.parameters,
        code=tpl.code,
        permissions=tpl.permissions,
        tests=tpl.sections["TESTS"].text,
        notes=tpl.notes,
    )
    assert again == text


@pytest.mark.parametrize("kind", KINDS)
def test_code_is_accepted_by_the_sandbox_syntax(tpls: dict[str, Tpl], kind: str) -> None:
    tpl = tpls[kind]
    syntax.check(tpl.code, tpl.source, tpl.code_line)
    for scenario in tpl.tests["scenarios"]:
        syntax.check(tpl.tests.get("setup", "") + "\n" + scenario["code"], tpl.source)


@pytest.mark.parametrize("kind", KINDS)
def test_require_block_is_alphabetical_and_every_api_is_used(
    tpls: dict[str, Tpl], kind: str
) -> None:
    code = tpls[kind].code
    apis = requires(code)
    assert apis == sorted(apis, key=str.lower)
    body = REQUIRE.sub("", code)
    for api in apis:
        assert re.search(r"\b" + api + r"\b", body), f"{kind}: {api} is required but never used"


@pytest.mark.parametrize("kind", KINDS)
def test_permissions_are_exactly_what_the_code_uses(tpls: dict[str, Tpl], kind: str) -> None:
    tpl = tpls[kind]
    apis = requires(tpl.code)
    unknown = [a for a in apis if a not in API_PERMISSION and a not in NO_PERMISSION]
    assert unknown == [], f"{kind}: no permission rule for {unknown}"
    needed = {API_PERMISSION[a] for a in apis if a in API_PERMISSION}
    declared = tpl.permission_ids
    assert len(declared) == len(set(declared)), declared
    assert set(declared) == needed


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "client"])
def test_event_data_keys_are_exactly_the_keys_read(tpls: dict[str, Tpl], kind: str) -> None:
    import json

    tpl = tpls[kind]
    assert "getAllEventData" not in tpl.code
    calls = re.findall(r"getEventData\(([^)]*)\)", tpl.code)
    literal = {c.strip("'") for c in calls if re.fullmatch(r"'[^']+'", c)}
    dynamic = [c for c in calls if not re.fullmatch(r"'[^']+'", c)]
    keys = set(literal)
    if dynamic:
        # The only dynamic read is over the EVENT_PARAMS constant.
        assert dynamic == ["key"] * len(dynamic), dynamic
        match = re.search(r"^const EVENT_PARAMS = (\[.*\]);$", tpl.code, re.M)
        assert match, f"{kind} reads a dynamic key without EVENT_PARAMS"
        keys |= set(json.loads(match.group(1)))
    granted = tpl.permission("read_event_data")
    assert granted["eventDataAccess"] == "specific"
    assert set(granted["keyPatterns"]) == keys


def _destination_urls(plan: Plan, kind: str) -> list[str]:
    urls = []
    for d in plan.destinations.values():
        if d.kind != kind:
            continue
        if kind == "ga4":
            for host in GA4_HOSTS.values():
                for path in ("/mp/collect", "/debug/mp/collect"):
                    urls.append(
                        f"{host}{path}?measurement_id={d.settings['measurement_id']}&api_secret=s"
                    )
        elif kind == "meta_capi":
            urls.append(
                f"https://graph.facebook.com/{d.settings['api_version']}/{d.settings['pixel_id']}"
                "/events?access_token=t"
            )
        elif kind == "google_ads":
            urls.append(
                "https://googleads.googleapis.com/v26/customers/1234567890:uploadClickConversions"
            )
        elif kind == "http":
            urls.append(d.settings["url"])
    return urls


@pytest.mark.parametrize("kind", ["ga4", "meta_capi", "google_ads", "http"])
def test_send_http_allows_the_destination_urls_and_nothing_broad(
    plan: Plan, tpls: dict[str, Tpl], kind: str
) -> None:
    granted = tpls[kind].permission("send_http")
    assert granted["allowedUrls"] == "specific"
    assert "allowGoogleDomains" not in granted
    for url in _destination_urls(plan, kind):
        assert any(url_matches(url, p) for p in granted["urls"]), url
    for pattern in granted["urls"]:
        assert pattern.startswith("https://") and not pattern.startswith("https://*")
    assert not any(url_matches("https://evil.example.com/collect", p) for p in granted["urls"])


def test_bigquery_may_write_only_the_plan_tables(plan: Plan, tpls: dict[str, Tpl]) -> None:
    granted = tpls["bigquery"].permission("access_bigquery")
    assert granted["allowedTables"] == [
        {
            "projectId": d.settings["project"],
            "datasetId": d.settings["dataset"],
            "tableId": d.settings["table"],
            "operation": "write",
        }
        for d in plan.destinations.values()
        if d.kind == "bigquery"
    ]


def test_client_reads_only_the_signature_header_and_writes_only_its_own(
    tpls: dict[str, Tpl],
) -> None:
    tpl = tpls["client"]
    read = set(re.findall(r"getRequestHeader\((\w+|'[^']+')\)", tpl.code))
    assert read == {"SIGNATURE_HEADER"}
    assert "const SIGNATURE_HEADER = 'x-sgtm-signature';" in tpl.code
    request = tpl.permission("read_request")
    assert request["headerWhitelist"] == [{"headerName": "x-sgtm-signature"}]
    assert request["queryParametersAllowed"] if "queryParametersAllowed" in request else True
    written = set(re.findall(r"setResponseHeader\('([^']+)'", tpl.code))
    allowed = {
        row["headerName"] for row in tpl.permission("access_response")["writeHeaderWhitelist"]
    }
    assert written == allowed
    assert tpl.permission("use_custom_private_keys") == {"keyIds": list(DEFAULT_KEY_IDS)}
    assert tpl.permission("logging") == {"environments": "debug"}


@pytest.mark.parametrize("kind", KINDS)
def test_logging_is_debug_only_and_never_carries_user_data(tpls: dict[str, Tpl], kind: str) -> None:
    tpl = tpls[kind]
    assert tpl.permission("logging") == {"environments": "debug"}
    assert "debugMode || version.previewMode" in tpl.code
    # Every logToConsole goes through log(), and log() entries never include user data values.
    assert tpl.code.count("logToConsole(") == 1
    for entry in re.findall(r"log\(\{(.*?)\}\);", tpl.code, re.S):
        assert "user_data:" not in entry or "Object.keys" in entry, entry


@pytest.mark.parametrize("kind", KINDS)
def test_scenarios_are_named_by_area_and_cover_the_issue_points(
    tpls: dict[str, Tpl], kind: str
) -> None:
    names = [s["name"] for s in tpls[kind].tests["scenarios"]]
    assert all(re.match(r"^\[[A-Z][A-Za-z ]+\] ", n) for n in names), names
    areas = {n[1 : n.index("]")] for n in names}
    if kind == "client":
        assert {"Routing", "Signature", "Batch", "Validation", "Event data", "Results"} <= areas
    else:
        assert {"Consent", "Errors"} <= areas
        assert areas & {"Payload", "Row"}


def test_meta_fields_offer_exactly_what_the_send_http_permission_admits(tmp_path) -> None:
    """Free-text pixel and API version fields let a GTM user type values the pinned send_http
    URLs refuse, breaking the tag on every event. The fields are SELECTs of the plan's values
    and the permission admits every combination they allow, and nothing else."""
    from ruamel.yaml import YAML

    from formats.plan import load_plan
    from formats.tpl import parse_tpl
    from generator.render.templates import tag_template
    from tests.conftest import EXAMPLE_PLAN

    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(EXAMPLE_PLAN.read_text(encoding="utf-8"))
    second = dict(doc["destinations"]["meta"])
    second["settings"] = {"pixel_id": "987654321098765", "api_version": "v26.0"}
    doc["destinations"]["meta_eu"] = second
    path = tmp_path / "plan.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(doc, out)
    tpl = parse_tpl(tag_template(load_plan(str(path)), "meta_capi").text, "meta_capi.tpl")

    fields = {p["name"]: p for p in tpl.parameters}
    pixels = [i["value"] for i in fields["pixelId"]["selectItems"]]
    versions = [i["value"] for i in fields["apiVersion"]["selectItems"]]
    assert fields["pixelId"]["type"] == fields["apiVersion"]["type"] == "SELECT"
    assert fields["pixelId"]["macrosInSelect"] is False
    assert fields["apiVersion"]["macrosInSelect"] is False
    assert pixels == ["123456789012345", "987654321098765"]
    assert versions == ["v26.0", "v27.0"]
    urls = tpl.permission("send_http")["urls"]
    for version in versions:
        for pixel in pixels:
            url = f"https://graph.facebook.com/{version}/{pixel}/events?access_token=t"
            assert any(url_matches(url, p) for p in urls), url
    other = "https://graph.facebook.com/v27.0/111111111111111/events?access_token=t"
    assert not any(url_matches(other, p) for p in urls)
