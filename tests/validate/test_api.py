"""validate_container() as other parts call it: rules that need more than one mutated file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from generator.validate import errors, validate_container
from generator.validate.discovery import export_enum, load_schemas
from tests.validate import make_broken_containers
from tests.validate.conftest import CORPUS


def _base() -> dict[str, Any]:
    return copy.deepcopy(make_broken_containers.base())


def _lines(data: Any) -> list[str]:
    return [str(f) for f in validate_container(data, "c.json")]


@pytest.mark.parametrize(
    ("api", "export"),
    [
        ("oncePerEvent", "ONCE_PER_EVENT"),
        ("customEvent", "CUSTOM_EVENT"),
        ("template", "TEMPLATE"),
        ("tagReference", "TAG_REFERENCE"),
        ("notSet", "NOT_SET"),
        ("youTubeVideo", "YOU_TUBE_VIDEO"),
        ("scrollDepthThreshold", "SCROLL_DEPTH_THRESHOLD"),
    ],
)
def test_export_enum_spelling(api: str, export: str) -> None:
    assert export_enum(api) == export


def test_schemas_come_from_the_installed_discovery_document() -> None:
    schemas = load_schemas()
    assert schemas.revision.isdigit()
    tag = schemas.fields("Tag")
    assert tag["tagFiringOption"].enum == ("UNLIMITED", "ONCE_PER_EVENT", "ONCE_PER_LOAD")
    assert tag["priority"].ref == "Parameter"  # Parameter-typed, never a bare string
    assert schemas.fields("Client")["priority"].kind == "integer"
    assert "TYPE_UNSPECIFIED" not in schemas.fields("Parameter")["type"].enum


def test_api_resource_gets_one_finding() -> None:
    resource = _base()["containerVersion"]
    (line,) = _lines(resource)
    assert line.startswith("c.json: export: this is a Tag Manager API ContainerVersion resource")


@pytest.mark.parametrize("data", [[], "x", None, 2])
def test_not_an_object(data: Any) -> None:
    (line,) = _lines(data)
    assert line.startswith("c.json: export: must be a JSON object")


def test_clients_only_in_server_containers() -> None:
    data = _base()
    data["containerVersion"]["container"]["usageContext"] = ["WEB"]
    lines = _lines(data)
    assert (
        "c.json: containerVersion: client: a WEB container has no client entities "
        "(only SERVER containers support them)"
    ) in lines
    # The SERVER templates no longer fit either; each one is named.
    assert sum("containerContexts" in line for line in lines) == 2


def test_web_trigger_type_in_server_container_warns() -> None:
    data = _base()
    data["containerVersion"]["trigger"][0]["type"] = "CLICK"
    findings = validate_container(data, "c.json")
    assert [f.severity for f in findings] == ["warning"]
    assert "'CLICK' is a web trigger type" in findings[0].message


def test_enabling_the_suggested_builtin_fixes_the_warning() -> None:
    data = _base()
    tag = data["containerVersion"]["tag"][1]
    tag["parameter"][0]["value"] = "https://x.example/{{Request Path}}"
    (finding,) = validate_container(data, "c.json")
    suggestion = json.loads(finding.message.split("add ", 1)[1].split(" to builtInVariable")[0])
    data["containerVersion"]["builtInVariable"].append(
        {"accountId": "1", "containerId": "2", **suggestion}
    )
    assert _lines(data) == []


def test_strong_tag_reference_must_resolve_weak_may_not() -> None:
    data = _base()
    data["containerVersion"]["transformation"] = [
        {
            "accountId": "1234567890",
            "containerId": "11111111",
            "transformationId": "70",
            "name": "Exclude ip",
            "type": "tf_exclude_params",
            "parameter": [
                {
                    "type": "LIST",
                    "key": "affectedTags",
                    "list": [
                        {
                            "type": "MAP",
                            "map": [
                                {
                                    "type": "TAG_REFERENCE",
                                    "key": "tagReference",
                                    "value": "Gone",
                                    "isWeakReference": True,
                                },
                                {"type": "TAG_REFERENCE", "key": "strong", "value": "Gone too"},
                            ],
                        }
                    ],
                }
            ],
            "fingerprint": "1",
        }
    ]
    assert _lines(data) == [
        'c.json: transformation "Exclude ip" (transformationId 70): '
        "parameter[0].list[0].map[1].value: TAG_REFERENCE 'Gone too' is not the name of a tag in tag[]"
    ]


def test_variable_named_like_an_enabled_builtin_is_ambiguous() -> None:
    data = _base()
    data["containerVersion"]["variable"][2]["name"] = "Event Name"
    assert _lines(data) == [
        "c.json: variable \"Event Name\" (variableId 32): name: 'Event Name' is also the name of "
        "an enabled built-in variable, so {{Event Name}} is ambiguous"
    ]


def test_findings_are_deterministic() -> None:
    data = make_broken_containers.build("duplicate_trigger_ids")
    assert _lines(data) == _lines(copy.deepcopy(data))


def _heureka(corpus: Path) -> dict[str, Any]:
    path = corpus / "sperciky__variable-monitoring__sgtm_container.json"
    return json.loads(path.read_text("utf-8"))


def test_gallery_type_code_resolves_by_gallery_template_id(corpus: Path) -> None:
    data = _heureka(corpus)
    users = [v["name"] for v in data["containerVersion"]["variable"] if v["type"] == "cvt_WVXBK"]
    assert len(users) == 2
    for template in data["containerVersion"]["customTemplate"]:
        reference = template.get("galleryReference") or {}
        if reference.get("galleryTemplateId") == "WVXBK":
            del reference["galleryTemplateId"]
    failed = errors(validate_container(data, "heureka.json"))
    assert sorted(f.entity.split('"')[1] for f in failed) == sorted(users)
    assert all("'cvt_WVXBK' does not resolve to a customTemplate" in f.message for f in failed)


def test_corpus_web_export_with_server_only_entity(corpus: Path) -> None:
    path = CORPUS / "google-marketing-solutions__gtm-boilerplate__web-container.json"
    data = json.loads(path.read_text("utf-8"))
    data["containerVersion"]["client"] = [
        {
            "accountId": "1",
            "containerId": "2",
            "clientId": "9",
            "name": "GA4",
            "type": "gaaw_client",
        }
    ]
    assert [f.path for f in errors(validate_container(data, path.name))] == ["client"]


def test_monitoring_metadata_values_are_plain_templates() -> None:
    data = _base()
    data["containerVersion"]["tag"][0]["monitoringMetadata"] = {
        "type": "MAP",
        "map": [
            {"type": "TEMPLATE", "key": "team", "value": "growth"},
            {"type": "TEMPLATE", "key": "event", "value": "{{Event Name}}"},
        ],
    }
    assert _lines(data) == [
        'c.json: tag "Webhook - purchase" (tagId 10): monitoringMetadata.map[1].value: '
        "monitoringMetadata values cannot contain variable references"
    ]


def test_misspelled_usage_context_is_reported_once() -> None:
    data = _base()
    data["containerVersion"]["container"]["usageContext"] = ["server"]
    (line,) = _lines(data)
    assert line.startswith("c.json: container: usageContext[0]: 'server' is not one of ")
    assert line.endswith("(that is the API spelling; exports write 'SERVER')")
