"""Write tests/fixtures/broken_containers/*.json: one valid base export, one defect per file.

Run ``python -m tests.validate.make_broken_containers`` after changing the base or a case.
It writes only the inputs; each ``<case>.expected`` (the exact finding lines) is written and
reviewed by hand, so a validator change cannot silently rewrite what the tests expect.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formats.tpl import encode_value, render_tpl

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "broken_containers"
BASE = HERE / "minimal_server_container.json"

ACCOUNT, CONTAINER = "1234567890", "11111111"


def _tpl(kind: str, name: str, code: str, permissions: list[dict[str, Any]]) -> str:
    return render_tpl(
        info={
            "type": kind,
            "id": "cvt_temp_public_id",
            "version": 1,
            "securityGroups": [],
            "displayName": name,
            "brand": {"id": "brand_dummy", "displayName": "Example"},
            "description": f"{name} (validator test fixture).",
            "containerContexts": ["SERVER"],
        },
        parameters=[
            {"type": "TEXT", "name": "endpoint", "displayName": "Endpoint", "simpleValueType": True}
        ],  # fmt: skip
        code=code,
        permissions=permissions,
        tests="scenarios:\n- name: '[Smoke] runs'\n  code: runCode(mockData);\nsetup: const mockData = {};",
        notes="Created for the validator tests.",
    )


def _permission(public_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance": {
            "key": {"publicId": public_id, "versionId": "1"},
            "param": [{"key": key, "value": encode_value(value)} for key, value in params.items()],
        },
        "clientAnnotations": {"isEditedByUser": True},
        "isRequired": True,
    }


TAG_TPL = _tpl(
    "TAG",
    "Webhook tag",
    "const sendHttpRequest = require('sendHttpRequest');\n"
    "sendHttpRequest(data.endpoint, {method: 'POST', timeout: 5000}, '{}')\n"
    "  .then(() => data.gtmOnSuccess(), () => data.gtmOnFailure());",
    [_permission("send_http", {"allowedUrls": "any"})],
)
CLIENT_TPL = _tpl(
    "CLIENT",
    "Events client",
    "const claimRequest = require('claimRequest');\n"
    "const getRequestPath = require('getRequestPath');\n"
    "if (getRequestPath() === '/s2s/events') { claimRequest(); }",
    [
        _permission(
            "read_request",
            {"requestAccess": "any", "headerAccess": "any", "queryParameterAccess": "any"},
        )
    ],  # fmt: skip
)


def _ids() -> dict[str, str]:
    return {"accountId": ACCOUNT, "containerId": CONTAINER}


def _param(kind: str, key: str | None, value: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if key is not None:
        out["key"] = key
    out["value"] = value
    return out


def _event_trigger(trigger_id: str, name: str, event: str) -> dict[str, Any]:
    return {
        **_ids(),
        "triggerId": trigger_id,
        "name": name,
        "type": "CUSTOM_EVENT",
        "customEventFilter": [
            {
                "type": "EQUALS",
                "parameter": [
                    _param("TEMPLATE", "arg0", "{{_event}}"),
                    _param("TEMPLATE", "arg1", event),
                ],
            }
        ],
        "fingerprint": "1732870000000",
    }


def _ed_variable(variable_id: str, name: str, key_path: str) -> dict[str, Any]:
    return {
        **_ids(),
        "variableId": variable_id,
        "name": name,
        "type": "ed",
        "parameter": [
            _param("BOOLEAN", "setDefaultValue", "false"),
            _param("TEMPLATE", "keyPath", key_path),
        ],
        "fingerprint": "1732870000000",
        "parentFolderId": "40",
        "formatValue": {},
    }


def base() -> dict[str, Any]:
    """A small server export in the exact shape of real ones (gtm-container.md section 1)."""
    tag_type, client_type = f"cvt_{CONTAINER}_50", f"cvt_{CONTAINER}_51"
    return {
        "exportFormatVersion": 2,
        "exportTime": "2026-11-29 12:00:00",
        "containerVersion": {
            "path": f"accounts/{ACCOUNT}/containers/{CONTAINER}/versions/0",
            **_ids(),
            "containerVersionId": "0",
            "container": {
                "path": f"accounts/{ACCOUNT}/containers/{CONTAINER}",
                **_ids(),
                "name": "Validator fixture",
                "publicId": "GTM-ABCDEFG",
                "usageContext": ["SERVER"],
                "fingerprint": "0000000000000",
                "tagManagerUrl": "https://tagmanager.google.com/#/container/accounts/"
                f"{ACCOUNT}/containers/{CONTAINER}/workspaces?apiLink=container",
                "features": {"supportClients": True, "supportTransformations": True},
                "tagIds": ["GTM-ABCDEFG"],
            },
            "tag": [
                {
                    **_ids(),
                    "tagId": "10",
                    "name": "Webhook - purchase",
                    "type": tag_type,
                    "parameter": [
                        _param(
                            "TEMPLATE", "endpoint", "https://hooks.example.com/{{ED - event_id}}"
                        ),
                        {
                            "type": "LIST",
                            "key": "fields",
                            "list": [
                                {
                                    "type": "MAP",
                                    "map": [
                                        _param("TEMPLATE", "name", "value"),
                                        _param("TEMPLATE", "value", "{{ED - value}}"),
                                    ],
                                }
                            ],
                        },
                        _param("INTEGER", "timeoutMs", "5000"),
                    ],
                    "fingerprint": "1732870000000",
                    "firingTriggerId": ["20"],
                    "parentFolderId": "40",
                    "tagFiringOption": "ONCE_PER_EVENT",
                    "priority": _param("INTEGER", None, "10"),
                    "monitoringMetadata": {"type": "MAP"},
                    "consentSettings": {"consentStatus": "NOT_SET"},
                },
                {
                    **_ids(),
                    "tagId": "11",
                    "name": "Webhook - refund",
                    "type": tag_type,
                    "parameter": [
                        _param("TEMPLATE", "endpoint", "https://hooks.example.com/{{Event Name}}"),
                    ],
                    "fingerprint": "1732870000000",
                    "firingTriggerId": ["21"],
                    "blockingTriggerId": ["2147479574"],
                    "tagFiringOption": "ONCE_PER_EVENT",
                    "setupTag": [{"tagName": "Webhook - purchase"}],
                    "monitoringMetadata": {"type": "MAP"},
                    "consentSettings": {
                        "consentStatus": "NEEDED",
                        "consentType": {
                            "type": "LIST",
                            "list": [_param("TEMPLATE", None, "ad_storage")],
                        },
                    },
                },
            ],
            "trigger": [
                _event_trigger("20", "CE - purchase", "purchase"),
                {
                    **_event_trigger("21", "CE - refund", "refund"),
                    "filter": [
                        {
                            "type": "CONTAINS",
                            "parameter": [
                                _param("TEMPLATE", "arg0", "{{Client Name}}"),
                                _param("TEMPLATE", "arg1", "Events client"),
                                _param("BOOLEAN", "negate", "false"),
                            ],
                        }
                    ],
                },
            ],
            "variable": [
                _ed_variable("30", "ED - event_id", "event_id"),
                _ed_variable("31", "ED - value", "value"),
                {
                    **_ids(),
                    "variableId": "32",
                    "name": "Const - currency",
                    "type": "c",
                    "parameter": [_param("TEMPLATE", "value", "EUR")],
                    "fingerprint": "1732870000000",
                    "formatValue": {},
                },
            ],
            "folder": [
                {**_ids(), "folderId": "40", "name": "Generated", "fingerprint": "1732870000000"}
            ],
            "builtInVariable": [
                {**_ids(), "type": "EVENT_NAME", "name": "Event Name"},
                {**_ids(), "type": "CLIENT_NAME", "name": "Client Name"},
            ],
            "fingerprint": "1732870000000",
            "tagManagerUrl": "https://tagmanager.google.com/#/versions/accounts/"
            f"{ACCOUNT}/containers/{CONTAINER}/versions/0?apiLink=version",
            "customTemplate": [
                {
                    **_ids(),
                    "templateId": "50",
                    "name": "Webhook tag",
                    "fingerprint": "1732870000000",
                    "templateData": TAG_TPL,
                },
                {
                    **_ids(),
                    "templateId": "51",
                    "name": "Events client",
                    "fingerprint": "1732870000000",
                    "templateData": CLIENT_TPL,
                },
            ],
            "client": [
                {
                    **_ids(),
                    "clientId": "60",
                    "name": "Events client",
                    "type": client_type,
                    "parameter": [_param("TEMPLATE", "path", "/s2s/events")],
                    "priority": 10,
                    "fingerprint": "1732870000000",
                }
            ],
        },
    }


Mutation = Callable[[dict[str, Any]], None]


def _cv(data: dict[str, Any]) -> dict[str, Any]:
    return data["containerVersion"]


def _tag(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return _cv(data)["tag"][index]


def _replace_section(data: dict[str, Any], index: int, section: str, body: str) -> None:
    template = _cv(data)["customTemplate"][index]
    text = template["templateData"]
    start = text.index(f"___{section}___\n\n") + len(f"___{section}___\n\n")
    end = text.index("\n\n\n___", start)
    template["templateData"] = text[:start] + body + text[end:]


def _set(path: list[str | int], value: Any) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return apply


def _delete(path: list[str | int]) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return apply


def _rename_key(path: list[str | int], old: str, new: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path:
            node = node[part]
        items = list(node.items())
        node.clear()
        node.update((new if key == old else key, value) for key, value in items)

    return apply


def _duplicate_trigger_id(data: dict[str, Any]) -> None:
    _cv(data)["trigger"][1]["triggerId"] = "20"


def _duplicate_tag_name(data: dict[str, Any]) -> None:
    _tag(data, 1)["name"] = "Webhook - purchase"
    _tag(data, 1)["setupTag"] = []


def _bad_info_json(data: dict[str, Any]) -> None:
    _replace_section(
        data, 0, "INFO", '{\n  "type": "TAG",\n  "id": "cvt_temp_public_id"\n  "version": 1\n}'
    )


def _bad_tests_yaml(data: dict[str, Any]) -> None:
    _replace_section(
        data, 0, "TESTS", "scenarios:\n- name: '[Smoke] runs\n  code: runCode(mockData);"
    )


def _web_template(data: dict[str, Any]) -> None:
    template = _cv(data)["customTemplate"][0]
    template["templateData"] = template["templateData"].replace('"SERVER"', '"WEB"')


C = ["containerVersion"]
CASES: dict[str, Mutation] = {
    "unknown_field": _rename_key(C + ["tag", 0], "firingTriggerId", "firingTriggerIds"),
    "wrong_type_boolean": _set(C + ["tag", 0, "paused"], "true"),
    "bad_enum_parameter_type": _set(C + ["tag", 0, "parameter", 2, "type"], "TEMPLATEX"),
    "api_enum_spelling": _set(C + ["trigger", 0, "type"], "customEvent"),
    "bad_enum_consent_status": _set(C + ["tag", 0, "consentSettings", "consentStatus"], "GRANTED"),
    "dangling_firing_trigger": _set(C + ["tag", 0, "firingTriggerId"], ["20", "999"]),
    "dangling_blocking_trigger": _set(C + ["tag", 1, "blockingTriggerId"], ["2147479999"]),
    "unresolved_variable": _set(C + ["tag", 0, "parameter", 1, "list", 0, "map", 1, "value"], "{{ED - valeu}}"),
    "disabled_builtin_variable": _set(C + ["tag", 1, "parameter", 0, "value"], "https://x.example/{{Request Path}}"),
    "unknown_cvt_type": _set(C + ["tag", 0, "type"], "cvt_11111111_99"),
    "template_slot_mismatch": _set(C + ["client", 0, "type"], "cvt_11111111_50"),
    "unknown_builtin_tag_type": _set(C + ["tag", 1, "type"], "ga4"),
    "bad_template_info_json": _bad_info_json,
    "bad_template_tests_yaml": _bad_tests_yaml,
    "template_wrong_container_context": _web_template,
    "missing_required_field": _delete(C + ["variable", 2, "type"]),
    "missing_parameter_key": _delete(C + ["variable", 0, "parameter", 1, "key"]),
    "wrong_export_format_version": _set(["exportFormatVersion"], 1),
    "export_time_iso": _set(["exportTime"], "2026-11-29T12:00:00Z"),
    "unknown_top_level_field": _set(["exportedBy"], "sgtm"),
    "dangling_folder_id": _set(C + ["variable", 1, "parentFolderId"], "77"),
    "duplicate_trigger_ids": _duplicate_trigger_id,
    "duplicate_tag_names": _duplicate_tag_name,
    "parameter_bare_string": _set(C + ["tag", 0, "priority"], "70"),
    "monitoring_metadata_not_map": _set(C + ["tag", 1, "monitoringMetadata"], {"type": "LIST"}),
    "boolean_value": _set(C + ["variable", 0, "parameter", 0, "value"], "yes"),
    "integer_value": _set(C + ["tag", 0, "parameter", 2, "value"], "5s"),
    "duplicate_parameter_key": _set(C + ["tag", 0, "parameter", 2, "key"], "endpoint"),
    "condition_missing_operand": _delete(C + ["trigger", 0, "customEventFilter", 0, "parameter", 1]),
    "condition_arg0_not_variable": _set(C + ["trigger", 1, "filter", 0, "parameter", 0, "value"], "Client Name"),
    "dangling_setup_tag": _set(C + ["tag", 1, "setupTag"], [{"tagName": "Webhook - purchse"}]),
    "builtin_variable_misnamed": _set(C + ["builtInVariable", 0, "name"], "event_name"),
    "consent_type_item_not_template": _set(C + ["tag", 1, "consentSettings", "consentType", "list", 0, "type"], "BOOLEAN"),
    "condition_negate_not_boolean": _set(C + ["trigger", 1, "filter", 0, "parameter", 2, "type"], "TEMPLATE"),
    "client_priority_string": _set(C + ["client", 0, "priority"], "10"),
    "list_on_template_parameter": _set(C + ["variable", 2, "parameter", 0, "list"], []),
}  # fmt: skip


def build(case: str) -> dict[str, Any]:
    data = copy.deepcopy(base())
    CASES[case](data)
    return data


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    _write(BASE, base())
    for case in CASES:
        _write(FIXTURES / f"{case}.json", build(case))
    # A file the importer's strict JSON parser rejects at the first bad token.
    text = json.dumps(base(), indent=4) + "\n"
    (FIXTURES / "not_json.json").write_text(text.replace('"tag": [', '"tag": [,', 1), "utf-8")
    # Python keeps the last of two equal keys silently; the validator must not.
    doubled = text.replace(
        '"tagId": "11",', '"tagId": "11",\n                    "tagId": "12",', 1
    )
    (FIXTURES / "duplicate_json_key.json").write_text(doubled, "utf-8")


if __name__ == "__main__":
    main()
