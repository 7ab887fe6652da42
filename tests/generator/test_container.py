"""container.json: a server export in real-export spelling that the validator accepts and whose
references all resolve, configured from the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from formats.plan import Plan
from generator.render.container import CLIENT_NAME, stable_id
from generator.validate import errors, validate_container


@pytest.fixture(scope="module")
def export(files: dict[str, str]) -> dict:
    return json.loads(files["container.json"])


@pytest.fixture(scope="module")
def version(export: dict) -> dict:
    return export["containerVersion"]


def params(entity: dict) -> dict[str, dict]:
    return {p["key"]: p for p in entity.get("parameter", [])}


def test_the_validator_finds_nothing(export: dict) -> None:
    findings = validate_container(export, "container.json")
    assert errors(findings) == [], "\n".join(str(f) for f in findings)
    assert findings == [], "\n".join(str(f) for f in findings)


def test_wrapper_and_container(export: dict, version: dict, plan: Plan) -> None:
    assert list(export) == ["exportFormatVersion", "exportTime", "containerVersion"]
    assert export["exportFormatVersion"] == 2
    assert version["container"]["usageContext"] == ["SERVER"]
    assert version["container"]["name"] == plan.name
    assert version["container"]["features"]["supportClients"] is True
    order = [k for k in version if isinstance(version[k], list)]
    assert order == [
        "tag",
        "trigger",
        "variable",
        "folder",
        "builtInVariable",
        "customTemplate",
        "client",
    ]


def test_ids_are_strings_and_unique_across_entity_kinds(version: dict) -> None:
    ids = []
    for kind, key in (
        ("tag", "tagId"),
        ("trigger", "triggerId"),
        ("variable", "variableId"),
        ("folder", "folderId"),
        ("customTemplate", "templateId"),
        ("client", "clientId"),
    ):
        for entity in version[kind]:
            assert isinstance(entity[key], str) and entity[key].isdigit()
            assert entity["accountId"] == version["accountId"]
            assert entity["containerId"] == version["containerId"]
            ids.append(entity[key])
    assert len(ids) == len(set(ids))


def test_every_template_is_embedded_as_the_real_exports_carry_it(
    version: dict, files: dict[str, str]
) -> None:
    """The .tpl files start like editor downloads (BOM, blank line); templateData like the 78
    templates of the real exports in ../shared/corpus/gtm-containers/: no BOM, first marker
    first. Otherwise the text is the same."""
    embedded = [t["templateData"] for t in version["customTemplate"]]
    tpl_texts = [text for path, text in files.items() if path.startswith("templates/")]
    assert all(text.startswith("\ufeff\n___INFO___\n") for text in tpl_texts)
    assert all(data.startswith("___INFO___\n") for data in embedded)
    assert sorted(embedded) == sorted(text.removeprefix("\ufeff\n") for text in tpl_texts)


def test_one_tag_per_destination_configured_from_the_plan(version: dict, plan: Plan) -> None:
    tags = {params(t)["destinationName"]["value"]: t for t in version["tag"]}
    assert list(tags) == list(plan.destinations)
    templates = {
        f"cvt_{version['containerId']}_{t['templateId']}": t["templateData"]
        for t in version["customTemplate"]
    }
    triggers = {t["triggerId"]: t for t in version["trigger"]}
    for name, dest in plan.destinations.items():
        tag = tags[name]
        assert tag["type"] in templates
        assert '"displayName": "sgtm-companion ' in templates[tag["type"]]
        p = params(tag)
        assert p["purposes"]["value"] == ",".join(dest.purposes)
        rows = [{m["key"]: m["value"] for m in row["map"]} for row in p["eventMap"]["list"]]
        assert rows == [{"event": e, "name": n} for e, n in dest.events.items()]
        fired = [
            triggers[i]["customEventFilter"][0]["parameter"][1]["value"]
            for i in tag["firingTriggerId"]
        ]
        assert sorted(fired) == sorted(dest.events)
        assert tag["tagFiringOption"] == "ONCE_PER_EVENT"
        assert tag["consentSettings"] == {"consentStatus": "NOT_SET"}
        assert tag["monitoringMetadata"] == {
            "type": "MAP",
            "map": [{"type": "TEMPLATE", "key": "sgtm_destination", "value": name}],
        }
        for role, ref in dest.credentials.items():
            assert any(v.get("value") == "{{" + ref.env + "}}" for v in p.values()), role


def test_triggers_match_the_event_and_our_client(version: dict, plan: Plan) -> None:
    routed = [e for e in plan.events if plan.destinations_for(e)]
    assert [t["name"] for t in version["trigger"]] == [f"sgtm - {e}" for e in routed]
    for trigger, event in zip(version["trigger"], routed, strict=True):
        assert trigger["type"] == "CUSTOM_EVENT"
        assert trigger["triggerId"] == stable_id("trigger", event)
        assert trigger["customEventFilter"] == [
            {
                "type": "EQUALS",
                "parameter": [
                    {"type": "TEMPLATE", "key": "arg0", "value": "{{_event}}"},
                    {"type": "TEMPLATE", "key": "arg1", "value": event},
                ],
            }
        ]
        assert trigger["filter"][0]["parameter"][0]["value"] == "{{Client Name}}"
        assert trigger["filter"][0]["parameter"][1]["value"] == CLIENT_NAME
    assert [c["name"] for c in version["client"]] == [CLIENT_NAME]
    assert [(b["type"], b["name"]) for b in version["builtInVariable"]] == [
        ("EVENT_NAME", "Event Name"),
        ("CLIENT_NAME", "Client Name"),
    ]


def test_credentials_are_empty_constants_named_after_the_env_var(version: dict, plan: Plan) -> None:
    constants = {v["name"]: v for v in version["variable"] if v["type"] == "c"}
    expected = {r.env for d in plan.destinations.values() for r in d.credentials.values()}
    assert set(constants) == expected
    for variable in constants.values():
        assert variable["parameter"] == [{"type": "TEMPLATE", "key": "value"}]
    event_data = {
        v["name"]: params(v)["keyPath"]["value"] for v in version["variable"] if v["type"] == "ed"
    }
    assert event_data == {
        "sgtm - consent": "x-sgtm-consent",
        "sgtm - destinations": "x-sgtm-destinations",
    }


def test_the_client_is_configured_from_the_plan(version: dict, plan: Plan) -> None:
    client = version["client"][0]
    p = params(client)
    assert p["clientPath"]["value"] == plan.delivery.client_path
    purposes = {
        row["map"][0]["value"]: (row["map"][1]["value"], row["map"][2]["value"])
        for row in p["destinationPurposes"]["list"]
    }
    assert purposes == {d.name: (d.kind, ",".join(d.purposes)) for d in plan.destinations.values()}
    assert isinstance(client["priority"], int)


def test_entity_keys_are_a_subset_of_what_real_server_exports_use(
    version: dict, corpus: Path
) -> None:
    seen: dict[str, set[str]] = {}
    for path in sorted(corpus.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "containerVersion" not in doc:
            continue
        for kind, entities in doc["containerVersion"].items():
            if isinstance(entities, list):
                for entity in entities:
                    if isinstance(entity, dict):
                        seen.setdefault(kind, set()).update(entity)
    for kind, entities in version.items():
        if isinstance(entities, list):
            for entity in entities:
                assert set(entity) <= seen[kind], (kind, set(entity) - seen[kind])
