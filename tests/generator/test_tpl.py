"""The .tpl format module: sections, byte layout, positions in errors, permission values."""

from __future__ import annotations

import json

import pytest

from formats.tpl import (
    BOM,
    TplError,
    decode_value,
    encode_value,
    parse_tpl,
    render_tpl,
    split_sections,
)

INFO = {"type": "TAG", "id": "cvt_temp_public_id", "version": 1, "displayName": "T"}
PERMS = [
    {
        "instance": {
            "key": {"publicId": "send_http", "versionId": "1"},
            "param": [
                {"key": "allowedUrls", "value": {"type": 1, "string": "specific"}},
                {
                    "key": "urls",
                    "value": {"type": 2, "listItem": [{"type": 1, "string": "https://x.example/"}]},
                },
            ],
        },
        "isRequired": True,
    }
]


def _render(**overrides):
    args = dict(
        info=INFO,
        parameters=[{"type": "TEXT", "name": "a"}],
        code="const x = 1;\ndata.gtmOnSuccess();",
        permissions=PERMS,
        tests="scenarios:\n- name: one\n  code: runCode({});",
        notes="Generated.",
    )
    args.update(overrides)
    return render_tpl(**args)


def test_render_follows_the_editor_byte_layout():
    text = _render()
    assert text.startswith(BOM + "\n___INFO___\n\n{")
    assert "\r" not in text
    assert "}\n\n\n___TEMPLATE_PARAMETERS___\n\n[" in text
    assert text.endswith("Generated.\n\n\n")
    markers = [line for line in text.splitlines() if line.startswith("___")]
    assert markers == [
        "___INFO___",
        "___TEMPLATE_PARAMETERS___",
        "___SANDBOXED_JS_FOR_SERVER___",
        "___SERVER_PERMISSIONS___",
        "___TESTS___",
        "___NOTES___",
    ]


def test_parse_reads_every_section_and_maps_code_lines():
    text = _render()
    tpl = parse_tpl(text, "t.tpl")
    assert tpl.type == "TAG" and tpl.display_name == "T" and tpl.context == "SERVER"
    assert tpl.code == "const x = 1;\ndata.gtmOnSuccess();"
    assert text.splitlines()[tpl.code_line - 1] == "const x = 1;"
    assert tpl.permission_ids == ["send_http"]
    assert tpl.permission("send_http") == {
        "allowedUrls": "specific",
        "urls": ["https://x.example/"],
    }
    assert tpl.permission("logging") is None
    assert tpl.tests["scenarios"][0]["name"] == "one"
    assert tpl.notes == "Generated."


def test_render_parse_render_is_stable():
    text = _render()
    tpl = parse_tpl(text)
    again = render_tpl(
        info=tpl.info,
        parameters=tpl.parameters,
        code=tpl.code,
        permissions=tpl.permissions,
        tests=tpl.sections["TESTS"].text,
        notes=tpl.notes,
    )
    assert again == text


def test_crlf_and_missing_bom_are_read_too():
    text = _render().lstrip(BOM).replace("\n", "\r\n")
    assert parse_tpl(text).code == "const x = 1;\ndata.gtmOnSuccess();"


@pytest.mark.parametrize(
    ("mutate", "line", "message"),
    [
        (
            lambda t: t.replace("___NOTES___", "___NOTEZ___"),
            None,
            "unknown section marker ___NOTEZ___",
        ),
        (
            lambda t: t.replace("___NOTES___", "___TESTS___"),
            None,
            "section ___TESTS___ appears twice",
        ),
        (
            lambda t: t.replace('"type": "TAG"', '"type": "VARIABLE"'),
            5,
            "type 'VARIABLE' is not one of TAG, CLIENT, MACRO",
        ),
        (
            lambda t: t.replace('"displayName": "T"', '"displayName": "T",'),
            9,
            "___INFO___ is not valid JSON",
        ),
        (
            lambda t: t.replace("  code: runCode({});", "  code: [unclosed"),
            None,
            "___TESTS___ is not valid YAML",
        ),
        (
            lambda t: t.replace("___TEMPLATE_PARAMETERS___", "___WEB_PERMISSIONS___", 1),
            1,
            "missing required section ___TEMPLATE_PARAMETERS___",
        ),
        (lambda t: "\n\n", 1, "not a .tpl template"),
    ],
)
def test_errors_name_the_file_and_line(mutate, line, message):
    text = mutate(_render())
    with pytest.raises(TplError) as info:
        parse_tpl(text, "broken.tpl")
    assert message in str(info.value)
    assert str(info.value).startswith("broken.tpl:")
    if line is not None:
        assert info.value.line == line
    else:  # the marker's own line or the YAML problem's line inside the file
        assert 1 < info.value.line <= len(text.splitlines())


def test_json_error_line_points_into_the_file():
    text = _render(parameters=[{"type": "TEXT", "name": "a"}])
    broken = text.replace('"name": "a"', '"name": "a",,')
    with pytest.raises(TplError) as info:
        parse_tpl(broken, "p.tpl")
    assert broken.splitlines()[info.value.line - 1].strip().startswith('"name": "a",,')


def test_web_templates_are_recognised():
    text = _render().replace("___SANDBOXED_JS_FOR_SERVER___", "___SANDBOXED_JS_FOR_WEB_TEMPLATE___")
    text = text.replace("___SERVER_PERMISSIONS___", "___WEB_PERMISSIONS___")
    assert parse_tpl(text).context == "WEB"


@pytest.mark.parametrize(
    "value",
    [
        "s",
        True,
        False,
        ["a", "b"],
        {"k": "v", "n": ["x"]},
        [{"projectId": "p", "operation": "write"}],
    ],
)
def test_permission_values_round_trip(value):
    assert decode_value(encode_value(value)) == value


def test_every_template_in_the_real_exports_parses(shared_dir):
    parsed = 0
    for path in sorted((shared_dir / "corpus" / "gtm-containers").glob("*.json")):
        if path.name == "MANIFEST.json":
            continue
        version = json.loads(path.read_text(encoding="utf-8")).get("containerVersion", {})
        for template in version.get("customTemplate", []):
            sections = split_sections(template["templateData"], f"{path.name}:{template['name']}")
            assert "INFO" in sections
            parse_tpl(template["templateData"], f"{path.name}:{template['name']}")
            parsed += 1
    assert parsed > 50


@pytest.mark.parametrize("bom", ["", BOM])
def test_leading_text_before_info_loads_with_a_warning(bom):
    """Publishers put a licence comment above ___INFO___ and tell users to import the file in the
    GTM editor; the template loads, and the text is reported, with or without a BOM."""
    text = bom + "// Copyright 2025 Someone\n// Licensed under Apache-2.0\n" + _render().lstrip(BOM)
    tpl = parse_tpl(text, "licensed.tpl")
    assert tpl.type == "TAG" and tpl.code == parse_tpl(_render(), "x").code
    assert tpl.code_line == parse_tpl(_render(), "x").code_line + 2  # the two comment lines
    assert tpl.warnings == (
        "licensed.tpl:1: 2 line(s) of text before ___INFO___ (a licence comment?) are not part "
        "of any section and are ignored",
    )
    assert parse_tpl(_render(), "plain.tpl").warnings == ()
