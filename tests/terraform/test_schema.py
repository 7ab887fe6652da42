"""Every google_* block in terraform/ matches the real provider schema (hashicorp/google 6.50.0)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.terraform import hcl, schema
from tools.provider_schema import extract

SCHEMA = schema.load_schema()


def _blocks(files: list[hcl.TfFile]) -> list[hcl.Block]:
    return [*hcl.blocks(files, "resource"), *hcl.blocks(files, "data")]


def _check_snippet(tmp_path: Path, source: str) -> list[str]:
    path = tmp_path / "snippet.tf"
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return [f"{f.line}: {f.message}" for f in schema.check(_blocks([hcl.parse(path)]), SCHEMA)]


def test_committed_schema_names_its_source() -> None:
    assert SCHEMA["source"] == "@cdktf/provider-google@16.12.1"
    assert SCHEMA["provider"] == "hashicorp/google 6.50.0"


def test_every_block_in_the_tree_matches_the_provider_schema() -> None:
    files = hcl.tf_files(hcl.TERRAFORM, hcl.EXAMPLES)
    checked = _blocks(files)
    assert len(checked) >= 50, "the checker must see the whole deployment"
    findings = schema.check(checked, SCHEMA)
    assert findings == [], "\n".join(map(str, findings))


def test_committed_schema_holds_exactly_the_types_in_use() -> None:
    # A new resource type needs a re-run of the extractor; a dropped one, a smaller file.
    used = extract.used_types([hcl.TERRAFORM, hcl.EXAMPLES])
    assert set(SCHEMA["resources"]) == used["resources"]
    assert set(SCHEMA["data_sources"]) == used["data-sources"]


SERVICE = """
resource "google_cloud_run_v2_service" "s" {
  name     = "s"
  location = "europe-west1"
%s
}
"""

BAD = {
    "misspelled_attribute": (
        SERVICE % '  ingres = "INGRESS_TRAFFIC_ALL"\n  template {\n    containers {\n'
        '      image = "x"\n    }\n  }',
        ["4: unknown attribute 'ingres' in google_cloud_run_v2_service (did you mean 'ingress'?)"],
    ),
    "nested_unknown_and_missing_required": (
        SERVICE % "  template {\n    containers {\n      imag = var.image\n    }\n  }",
        [
            "5: required attribute 'image' is missing",
            "6: unknown attribute 'imag' in google_cloud_run_v2_service.template.containers"
            " (did you mean 'image'?)",
        ],
    ),
    "missing_required_block": (
        SERVICE % "",
        ["1: required block 'template' is missing"],
    ),
    "block_written_as_attribute": (
        SERVICE % "  template = {}",
        [
            "1: required block 'template' is missing",
            "4: template is a block: write `template { ... }`, not `template = ...`",
        ],
    ),
    "attribute_written_as_block": (
        SERVICE % '  labels {\n    app = "x"\n  }\n  template {\n    containers {\n'
        '      image = "x"\n    }\n  }',
        ["4: labels is an attribute: write `labels = ...`, not a block"],
    ),
    "dynamic_unknown_block": (
        SERVICE % '  template {\n    containers {\n      image = "x"\n'
        '      dynamic "envs" {\n        for_each = {}\n        content {}\n      }\n'
        "    }\n  }",
        [
            '7: dynamic "envs": no such block in google_cloud_run_v2_service.template.containers'
            " (did you mean 'env'?)"
        ],
    ),
    "dynamic_content_checked": (
        SERVICE % '  template {\n    containers {\n      image = "x"\n'
        '      dynamic "env" {\n        for_each = {}\n        content {\n'
        "          nam = env.key\n        }\n      }\n    }\n  }",
        [
            "7: required attribute 'name' is missing",
            "10: unknown attribute 'nam' in google_cloud_run_v2_service.template.containers.env"
            " (did you mean 'name'?)",
        ],
    ),
    "single_block_twice": (
        SERVICE % '  template {\n    containers {\n      image = "x"\n    }\n'
        "    scaling {}\n    scaling {}\n  }",
        ["8: scaling may appear only once"],
    ),
    "unknown_type": (
        'resource "google_cloud_run_v3_service" "s" {\n  name = "s"\n}\n',
        [
            "1: resource type google_cloud_run_v3_service is not in the committed schema"
            " (did you mean 'google_cloud_run_v2_service'?); re-run"
            " tools/provider_schema/extract.py if it is a new type"
        ],
    ),
    "value_outside_the_enum": (
        SERVICE % '  ingress = "INGRESS_TRAFFIC_INTERNAL_LB"\n  template {\n    containers {\n'
        '      image = "x"\n    }\n  }',
        [
            "4: ingress = 'INGRESS_TRAFFIC_INTERNAL_LB' is not one of the provider's values:"
            " INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY,"
            " INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER (did you mean"
            " 'INGRESS_TRAFFIC_INTERNAL_ONLY'?)"
        ],
    ),
    "nested_enum_value": (
        'resource "google_monitoring_alert_policy" "a" {\n  display_name = "a"\n'
        '  combiner     = "ANY"\n  conditions {\n    display_name = "c"\n'
        '    condition_threshold {\n      comparison = "COMPARISON_GT"\n'
        '      duration   = "60s"\n      aggregations {\n'
        '        per_series_aligner = "ALIGN_AVERAGE"\n      }\n    }\n  }\n}\n',
        [
            "3: combiner = 'ANY' is not one of the provider's values: AND, OR,"
            " AND_WITH_MATCHING_RESOURCE (did you mean 'AND'?)",
            "10: per_series_aligner = 'ALIGN_AVERAGE' is not one of the provider's values:"
            " ALIGN_NONE, ALIGN_DELTA, ALIGN_RATE, ALIGN_INTERPOLATE, ALIGN_NEXT_OLDER,"
            " ALIGN_MIN, ALIGN_MAX, ALIGN_MEAN, ALIGN_COUNT, ALIGN_SUM, ALIGN_STDDEV,"
            " ALIGN_COUNT_TRUE, ALIGN_COUNT_FALSE, ALIGN_FRACTION_TRUE, ALIGN_PERCENTILE_99,"
            " ALIGN_PERCENTILE_95, ALIGN_PERCENTILE_50, ALIGN_PERCENTILE_05,"
            " ALIGN_PERCENT_CHANGE (did you mean 'ALIGN_RATE'?)",
        ],
    ),
    "conditional_arms_are_checked": (
        'resource "google_firestore_database" "d" {\n  name        = "d"\n'
        '  location_id = "eur3"\n  type        = "FIRESTORE_NATIVE"\n'
        '  delete_protection_state = var.p ? "DELETE_PROTECTION_ENABLED" : "DISABLED"\n}\n',
        [
            "5: delete_protection_state = 'DISABLED' is not one of the provider's values:"
            " DELETE_PROTECTION_STATE_UNSPECIFIED, DELETE_PROTECTION_ENABLED,"
            " DELETE_PROTECTION_DISABLED"
        ],
    ),
    "missing_required_attribute": (
        'resource "google_pubsub_topic" "t" {\n  labels = {}\n}\n',
        ["1: required attribute 'name' is missing"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_violations_are_reported_with_line_and_reason(tmp_path: Path, case: str) -> None:
    source, expected = BAD[case]
    assert _check_snippet(tmp_path, source) == expected


def test_meta_arguments_are_not_schema_attributes(tmp_path: Path) -> None:
    source = """
    resource "google_pubsub_topic" "t" {
      for_each   = toset(["a"])
      name       = each.value
      depends_on = [google_pubsub_topic.u]
      lifecycle {
        prevent_destroy = true
      }
    }
    """
    assert _check_snippet(tmp_path, source) == []


def test_unparsable_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.tf"
    path.write_text('resource "google_pubsub_topic" "t" {\n  name = \n}\n', encoding="utf-8")
    with pytest.raises(hcl.HclError, match=r"broken\.tf:\d+: cannot parse"):
        hcl.parse(path)


# --- the extractor, on a manifest shaped like cdktf's ---------------------------------------

P = "@cdktf/provider-google"


def _prop(name: str, anchor: str, type_: dict, optional: bool = True) -> dict:
    remarks = (
        f"Docs at Terraform Registry: {{@link https://registry.terraform.io/x#{anchor} T#{anchor}}}"
    )
    prop = {"name": name, "type": type_, "docs": {"remarks": remarks}}
    if optional:
        prop["optional"] = True
    return prop


def _manifest() -> dict:
    link = (
        "Represents a {@link https://registry.terraform.io/providers/hashicorp/google/6.50.0/"
        "docs/resources/thing google_thing}."
    )
    return {
        "name": P,
        "version": "16.12.1",
        "types": {
            f"{P}.thing.Thing": {
                "kind": "class",
                "base": "cdktf.TerraformResource",
                "docs": {"summary": link},
                "initializer": {
                    "parameters": [{"name": "config", "type": {"fqn": f"{P}.thing.ThingConfig"}}]
                },
            },
            f"{P}.thing.ThingConfig": {
                "kind": "interface",
                "datatype": True,
                "properties": [
                    _prop("name", "name", {"primitive": "string"}, optional=False),
                    # The anchor wins over camelCase conversion (digits make it ambiguous).
                    _prop("ipv6Enabled", "ipv6_enabled", {"primitive": "boolean"}),
                    {
                        **_prop("mode", "mode", {"primitive": "string"}),
                        "docs": {
                            "summary": "Mode.",
                            "remarks": 'Possible values: ["FAST", "SAFE"]\n\nDocs at Terraform'
                            " Registry: {@link https://registry.terraform.io/x#mode T#mode}",
                        },
                    },
                    _prop("spec", "spec", {"fqn": f"{P}.thing.ThingSpec"}, optional=False),
                    _prop(
                        "rule",
                        "rule",
                        {
                            "union": {
                                "types": [
                                    {"fqn": "cdktf.IResolvable"},
                                    {
                                        "collection": {
                                            "kind": "array",
                                            "elementtype": {"fqn": f"{P}.thing.ThingSpec"},
                                        }
                                    },
                                ]
                            }
                        },
                    ),
                ],
            },
            f"{P}.thing.ThingSpec": {
                "kind": "interface",
                "datatype": True,
                "properties": [
                    _prop("routeName", "route_name", {"primitive": "string"}, optional=False)
                ],
            },
        },
    }


def test_extractor_keeps_names_requiredness_and_repetition(tmp_path: Path) -> None:
    (tmp_path / "a.tf").write_text('resource "google_thing" "x" {}\n', encoding="utf-8")
    out = extract.build(_manifest(), extract.used_types([tmp_path]))
    spec = {"attributes": {"route_name": {"required": True}}, "blocks": {}}
    assert out == {
        "source": f"{P}@16.12.1",
        "provider": "hashicorp/google 6.50.0",
        "data_sources": {},
        "resources": {
            "google_thing": {
                "attributes": {
                    "ipv6_enabled": {"required": False},
                    "mode": {"required": False, "values": ["FAST", "SAFE"]},
                    "name": {"required": True},
                },
                "blocks": {
                    "rule": {"required": False, "repeats": True, **spec},
                    "spec": {"required": True, "repeats": False, **spec},
                },
            }
        },
    }


def test_extractor_rejects_a_type_the_provider_lacks(tmp_path: Path) -> None:
    (tmp_path / "a.tf").write_text('resource "google_nothing" "x" {}\n', encoding="utf-8")
    with pytest.raises(extract.SchemaError, match="resource type google_nothing does not exist"):
        extract.build(_manifest(), extract.used_types([tmp_path]))


def test_extractor_cli_reports_a_wrong_package(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    manifest = tmp_path / "m.jsii"
    manifest.write_text(
        json.dumps({**_manifest(), "name": "@cdktf/provider-aws"}), encoding="utf-8"
    )
    rc = extract.main([str(manifest), "--terraform", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert (
        "package is '@cdktf/provider-aws', expected @cdktf/provider-google"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()


def test_extractor_output_is_deterministic(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsii"
    manifest.write_text(json.dumps(_manifest()), encoding="utf-8")
    (tmp_path / "a.tf").write_text('resource "google_thing" "x" {}\n', encoding="utf-8")
    outs = []
    for n in (1, 2):
        out = tmp_path / f"o{n}.json"
        assert extract.main([str(manifest), "--terraform", str(tmp_path), "--out", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
