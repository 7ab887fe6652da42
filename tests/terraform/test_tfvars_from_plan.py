"""terraform/tfvars_from_plan.py: the variables that must agree with the tracking plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from formats.plan.loader import load_plan
from terraform import tfvars_from_plan
from tests.terraform import hcl


def test_every_secret_the_sidecar_reads_reaches_it(example_plan_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.auto.tfvars.json"
    assert tfvars_from_plan.main([str(example_plan_path), "-o", str(out)]) == 0
    values = json.loads(out.read_text(encoding="utf-8"))
    plan = load_plan(example_plan_path)
    named = {ref.env for ref in plan.sidecar_secret_refs()}
    # Destination credentials are sGTM container constants: the sidecar never holds them.
    assert "META_ACCESS_TOKEN" not in values["sidecar_secret_env"]
    # The root adds the keyset itself (shared with sGTM); everything else comes from the map.
    assert set(values["sidecar_secret_env"]) | {values["delivery_keys_env"]} == named
    assert values["delivery_keys_env"] not in values["sidecar_secret_env"]
    assert values["retention_days"] == plan.retention_days
    assert values["client_path"] == plan.delivery.client_path
    assert values["region"] == plan.region
    for env, secret in values["sidecar_secret_env"].items():
        assert secret == "sgtm-" + env.lower().replace("_", "-")


def test_output_is_deterministic(example_plan_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert tfvars_from_plan.main([str(example_plan_path)]) == 0
    first = capsys.readouterr().out
    assert tfvars_from_plan.main([str(example_plan_path)]) == 0
    assert capsys.readouterr().out == first
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_the_example_tfvars_carry_the_example_plan(
    example_plan_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert tfvars_from_plan.main([str(example_plan_path)]) == 0
    generated = json.loads(capsys.readouterr().out)
    example = hcl.parse(hcl.EXAMPLES / "terraform.tfvars.example").doc
    for key, value in generated.items():
        if key == "delivery_keys_env" and key not in example:
            assert value == "SGTM_DELIVERY_KEYS"  # the root default
            continue
        assert example[key] == value, key


def test_prefix_follows_name_prefix(example_plan_path: Path, capsys) -> None:
    assert tfvars_from_plan.main([str(example_plan_path), "--prefix", "shop1"]) == 0
    secrets = json.loads(capsys.readouterr().out)["sidecar_secret_env"]
    assert secrets["STRIPE_WEBHOOK_SECRET"] == "shop1-stripe-webhook-secret"


def test_invalid_plan_exits_1_naming_file_and_line(tmp_path: Path, capsys) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: shop\nversion: [\n", encoding="utf-8")
    assert tfvars_from_plan.main([str(plan)]) == 1
    err = capsys.readouterr().err
    assert f"{plan}:" in err and "error" in err


def test_missing_plan_exits_1(tmp_path: Path, capsys) -> None:
    assert tfvars_from_plan.main([str(tmp_path / "absent.yaml")]) == 1
    assert "absent.yaml" in capsys.readouterr().err


def test_bad_flag_exits_2(example_plan_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        tfvars_from_plan.main([str(example_plan_path), "--nope"])
    assert exc.value.code == 2
