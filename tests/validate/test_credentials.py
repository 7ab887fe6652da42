"""Empty credential constants are warned about by `sgtm validate` and `sgtm generate`."""

from __future__ import annotations

import json

from formats.plan import load_plan
from generator.render import generate
from generator.validate.container import validate_container
from sgtm.cli import main
from tests.conftest import EXAMPLE_PLAN

NAMES = ("GA4_API_SECRET", "META_ACCESS_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN", "CRM_WEBHOOK_TOKEN")


def _export() -> dict:
    return json.loads(generate(load_plan(EXAMPLE_PLAN))["container.json"])


def _fill(export: dict, values: dict[str, str]) -> dict:
    for variable in export["containerVersion"]["variable"]:
        if variable["name"] in values:
            for param in variable["parameter"]:
                if param["key"] == "value":
                    param["value"] = values[variable["name"]]
    return export


def _warnings(export: dict) -> list[str]:
    return [f.message for f in validate_container(export) if f.severity == "warning"]


def test_every_empty_credential_constant_is_a_warning_not_an_error():
    findings = validate_container(_export())
    assert not [f for f in findings if f.severity == "error"]
    warned = [f for f in findings if "which is empty" in f.message]
    assert len(warned) == len(NAMES)
    for name in NAMES:
        assert any("{{" + name + "}}" in f.message for f in warned), name
    ga4 = next(f for f in warned if "GA4_API_SECRET" in f.message)
    assert ga4.entity.startswith('tag "sgtm - ga4 (ga4)"') and ga4.path.endswith(".value")


def test_filled_constants_are_quiet():
    filled = _fill(_export(), dict.fromkeys(NAMES, "value"))
    assert not [w for w in _warnings(filled) if "empty" in w]


def test_a_required_credential_field_left_blank_is_a_warning():
    export = _fill(_export(), dict.fromkeys(NAMES, "value"))
    for tag in export["containerVersion"]["tag"]:
        for param in tag["parameter"]:
            if param["key"] in ("apiSecret", "bearerToken"):
                param["value"] = ""
    # bearerToken is optional: a blank one is a webhook without a token, not a mistake.
    assert [w for w in _warnings(export) if "empty" in w] == [
        "apiSecret is empty: the tag cannot authenticate"
    ]


def test_validate_and_generate_print_them(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", str(EXAMPLE_PLAN), "-o", str(out)]) == 0
    generated = capsys.readouterr().err
    assert main(["validate", str(out / "container.json")]) == 0
    validated = capsys.readouterr()
    for name in NAMES:
        assert "{{" + name + "}}, which is empty" in generated
        assert "{{" + name + "}}, which is empty" in validated.out + validated.err
