"""Checks that need the terraform binary: fmt, and `terraform test` on provider-free code.

`terraform init` cannot reach the registry in CI, so only code without providers runs here: the
topology module, and the root variables.tf alone (its validations use no provider). Under CI a
missing binary is a failure, elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.terraform import hcl

pytestmark = pytest.mark.terraform

DIGEST = "sha256:" + "ab" * 32
VALID = {
    "project_id": "my-shop-sgtm",
    "domain": "shop.example.com",
    "sgtm_image": f"gcr.io/cloud-tagging-10302018/gtm-cloud-image@{DIGEST}",
    "sidecar_image": f"europe-west1-docker.pkg.dev/my-shop-sgtm/sgtm/sidecar@{DIGEST}",
    "sidecar_secret_env": {"SHOPIFY_WEBHOOK_SECRET": "sgtm-shopify-webhook-secret"},
}


@pytest.fixture(scope="module")
def terraform() -> str:
    found = shutil.which("terraform")
    if found is None:
        if IN_CI:
            pytest.fail("terraform is not on PATH; CI needs it for fmt and terraform test")
        pytest.skip("terraform is not installed")
    return found


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _terraform_test(terraform: str, workdir: Path) -> str:
    init = _run([terraform, "init", "-input=false", "-no-color", "-backend=false"], workdir)
    assert init.returncode == 0, init.stdout + init.stderr
    result = _run([terraform, "test", "-no-color"], workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fmt_is_clean(terraform: str, tmp_path: Path) -> None:
    for root in (hcl.TERRAFORM, hcl.EXAMPLES):
        result = _run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"], root)
        assert result.returncode == 0, f"{root}: terraform fmt would change:\n{result.stdout}"
    # fmt ignores *.example; check the tfvars example under its real name.
    shutil.copy(hcl.EXAMPLES / "terraform.tfvars.example", tmp_path / "terraform.tfvars")
    result = _run([terraform, "fmt", "-check", "-diff", "-no-color", "terraform.tfvars"], tmp_path)
    assert result.returncode == 0, result.stdout


def test_topology_module_tests_pass(terraform: str, tmp_path: Path) -> None:
    workdir = tmp_path / "topology"
    shutil.copytree(hcl.TERRAFORM / "modules" / "topology", workdir)
    out = _terraform_test(terraform, workdir)
    passed = re.search(r"Success! (\d+) passed, 0 failed", out)
    assert passed and int(passed.group(1)) >= 9, out


def _hcl_value(value: object) -> str:
    # JSON literals are valid HCL expressions (objects accept ":" as well as "=").
    return json.dumps(value)


def _run_block(name: str, variables: dict[str, object], failing: list[str] | None) -> str:
    lines = [f'run "{name}" {{', "  command = plan", "  variables {"]
    lines += [f"    {k} = {_hcl_value(v)}" for k, v in variables.items()]
    lines.append("  }")
    if failing is not None:
        lines.append(f"  expect_failures = [{', '.join(f'var.{v}' for v in failing)}]")
    lines.append("}")
    return "\n".join(lines)


ROOT_CASES = {
    "valid_defaults": ({}, None),
    "us_region": ({"region": "us-central1"}, ["region"]),
    "zurich_is_not_eu": ({"region": "europe-west6"}, ["region"]),
    "override_allows_us": ({"region": "us-central1", "allow_non_eu_region": True}, None),
    "firestore_us": ({"firestore_location": "nam5"}, ["firestore_location"]),
    "bigquery_us": ({"bigquery_location": "US"}, ["bigquery_location"]),
    "domain_with_scheme": ({"domain": "https://shop.example.com"}, ["domain"]),
    "domain_uppercase": ({"domain": "Shop.Example.com"}, ["domain"]),
    "domain_single_label": ({"domain": "localhost"}, ["domain"]),
    "sgtm_stable_tag": (
        {"sgtm_image": "gcr.io/cloud-tagging-10302018/gtm-cloud-image:stable"},
        ["sgtm_image"],
    ),
    "sgtm_placeholder_digest": (
        {"sgtm_image": "gcr.io/cloud-tagging-10302018/gtm-cloud-image@sha256:" + "0" * 64},
        ["sgtm_image"],
    ),
    "sidecar_latest_tag": (
        {"sidecar_image": "europe-docker.pkg.dev/p/r/s:latest"},
        ["sidecar_image"],
    ),
    "secret_in_plain_env": ({"sidecar_env": {"STRIPE_WEBHOOK_SECRET": "x"}}, ["sidecar_env"]),
    "plain_env_allowed": ({"sidecar_env": {"SGTM_LOG_LEVEL": "DEBUG"}}, None),
    "retention_zero": ({"retention_days": 0}, ["retention_days"]),
    "retention_fraction": ({"retention_days": 1.5}, ["retention_days"]),
    "edge_mode_typo": ({"edge_mode": "loadbalancer"}, ["edge_mode"]),
    "delivery_attempts_too_few": ({"max_delivery_attempts": 3}, ["max_delivery_attempts"]),
    "project_number_instead_of_id": ({"project_id": "123456789012"}, ["project_id"]),
    "bad_label_key": ({"labels": {"Team": "x"}}, ["labels"]),
    "keyset_twice": (
        {"sidecar_secret_env": {"SGTM_DELIVERY_KEYS": "sgtm-delivery-keys"}},
        ["sidecar_secret_env"],
    ),
    "renamed_keyset_twice": (
        {"delivery_keys_env": "KEYS", "sidecar_secret_env": {"KEYS": "k"}},
        ["sidecar_secret_env"],
    ),
    "secret_env_lowercase": ({"sidecar_secret_env": {"shopify": "s"}}, ["sidecar_secret_env"]),
}


def test_root_variable_validation(terraform: str, tmp_path: Path) -> None:
    shutil.copy(hcl.TERRAFORM / "variables.tf", tmp_path / "variables.tf")
    tests = tmp_path / "tests"
    tests.mkdir()
    blocks = ["variables {"]
    blocks += [f"  {k} = {_hcl_value(v)}" for k, v in VALID.items()]
    blocks.append("}")
    for name, (variables, failing) in ROOT_CASES.items():
        blocks.append(_run_block(name, variables, failing))
    (tests / "root_variables.tftest.hcl").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    out = _terraform_test(terraform, tmp_path)
    assert f"Success! {len(ROOT_CASES)} passed, 0 failed" in out, out


def test_example_values_pass_validation_once_the_placeholder_digest_is_replaced(
    terraform: str, tmp_path: Path
) -> None:
    example = hcl.parse(hcl.EXAMPLES / "terraform.tfvars.example").doc
    shutil.copy(hcl.TERRAFORM / "variables.tf", tmp_path / "variables.tf")
    tests = tmp_path / "tests"
    tests.mkdir()
    as_shipped = _run_block("as_shipped", example, ["sgtm_image"])
    filled = _run_block("filled_in", {**example, "sgtm_image": VALID["sgtm_image"]}, None)
    (tests / "example.tftest.hcl").write_text(f"{as_shipped}\n\n{filled}\n", encoding="utf-8")
    out = _terraform_test(terraform, tmp_path)
    assert "Success! 2 passed, 0 failed" in out, out


def test_variables_generated_from_the_example_plan_validate(
    terraform: str, tmp_path: Path, example_plan_path: Path
) -> None:
    from terraform import tfvars_from_plan

    generated = tmp_path / "plan.auto.tfvars.json"
    assert tfvars_from_plan.main([str(example_plan_path), "-o", str(generated)]) == 0
    values = json.loads(generated.read_text(encoding="utf-8"))
    shutil.copy(hcl.TERRAFORM / "variables.tf", tmp_path / "variables.tf")
    tests = tmp_path / "tests"
    tests.mkdir()
    run = _run_block("generated_from_plan", {**VALID, **values}, None)
    (tests / "plan.tftest.hcl").write_text(run + "\n", encoding="utf-8")
    out = _terraform_test(terraform, tmp_path)
    assert "Success! 1 passed, 0 failed" in out, out
