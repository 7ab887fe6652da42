"""Export spelling <-> API spelling, checked on every real export in the corpus."""

from __future__ import annotations

import json

import pytest

from ops.ownership import MARKER, is_managed, mark_notes, mark_template
from ops.spelling import SpellingError, to_api, to_export, upper_snake
from tests.conftest import corpus_exports

EXPORTS = corpus_exports()
SCHEMAS = {
    "tag": "Tag",
    "trigger": "Trigger",
    "variable": "Variable",
    "client": "Client",
    "customTemplate": "CustomTemplate",
    "folder": "Folder",
    "builtInVariable": "BuiltInVariable",
    "transformation": "Transformation",
}


@pytest.mark.parametrize("name", EXPORTS, ids=lambda n: n.split("__")[-1])
def test_every_real_entity_translates_and_round_trips(corpus, name):
    path = corpus / name
    cv = json.loads(path.read_text())["containerVersion"]
    count = 0
    for key, schema in SCHEMAS.items():
        for i, entity in enumerate(cv.get(key, [])):
            api = to_api(schema, entity, f"/containerVersion/{key}/{i}")
            assert to_export(schema, api) == entity
            count += 1
    assert count > 0


def test_values_are_translated_where_the_schema_has_enums():
    trigger = {
        "name": "t",
        "type": "CUSTOM_EVENT",
        "customEventFilter": [
            {"type": "MATCH_REGEX", "parameter": [{"type": "TEMPLATE", "key": "arg0"}]}
        ],
        "waitForTags": {"type": "BOOLEAN", "value": "false"},
    }
    assert to_api("Trigger", trigger) == {
        "name": "t",
        "type": "customEvent",
        "customEventFilter": [
            {"type": "matchRegex", "parameter": [{"type": "template", "key": "arg0"}]}
        ],
        "waitForTags": {"type": "boolean", "value": "false"},
    }
    tag = {"type": "cvt_1_2", "tagFiringOption": "ONCE_PER_EVENT"}
    assert to_api("Tag", tag) == {"type": "cvt_1_2", "tagFiringOption": "oncePerEvent"}
    assert to_api("BuiltInVariable", {"type": "SERVER_PAGE_LOCATION_URL"}) == {
        "type": "serverPageLocationUrl"
    }
    assert upper_snake("serverPageview") == "SERVER_PAGEVIEW"


def test_unknown_values_are_reported_with_their_pointer():
    tag = {"consentSettings": {"consentStatus": "MAYBE"}, "parameter": [{"type": "STRNG"}]}
    with pytest.raises(SpellingError) as info:
        to_api("Tag", tag, "/containerVersion/tag/4")
    pointers = [where for where, _ in info.value.problems]
    assert pointers == [
        "/containerVersion/tag/4/consentSettings/consentStatus",
        "/containerVersion/tag/4/parameter/0/type",
    ]
    assert "'MAYBE' is not a TagConsentSetting.consentStatus value" in str(info.value)


def test_ownership_markers_are_idempotent_and_recognised():
    assert mark_notes(None) == MARKER
    assert mark_notes("Fires on purchase.") == f"Fires on purchase.\n\n{MARKER}"
    assert mark_notes(mark_notes("x")) == mark_notes("x")
    assert is_managed({"notes": mark_notes("x")})
    assert not is_managed({"notes": "made by hand"})
    data = "___INFO___\n\n{}\n\n\n___NOTES___\n\nhello\n\n\n___TESTS___\n\nscenarios: []\n"
    marked = mark_template(data)
    assert mark_template(marked) == marked
    assert is_managed({"templateData": marked}, template=True)
    assert marked.endswith("___TESTS___\n\nscenarios: []\n")
    assert not is_managed({"templateData": data}, template=True)
    # a marker elsewhere in the template (say, in its code) does not count
    assert not is_managed({"templateData": f"___INFO___\n\n// {MARKER}\n"}, template=True)
