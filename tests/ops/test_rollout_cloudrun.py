"""`sgtm rollout` against a fake Cloud Run Admin API (REST transport) and fake sidecar stats."""

from __future__ import annotations

import json
import logging

import pytest

from formats.signing import generate_keyset
from ops.rollout import GateRules, Stats, judge
from sgtm.cli import main
from tests.ops.fake_cloudrun import FakeCloudRun

logging.getLogger("werkzeug").setLevel(logging.ERROR)
SERVICE = "projects/shop-prod/locations/europe-west1/services/sgtm"


@pytest.fixture(autouse=True)
def server_keyset(monkeypatch) -> None:
    """The gate signs its /v1/stats reads with the sidecar's server keyset."""
    monkeypatch.setenv("WEB_SIGNING_KEYS", generate_keyset("sk1"))


@pytest.fixture
def run(httpserver) -> FakeCloudRun:
    fake = FakeCloudRun()
    fake.serve(httpserver)
    return fake


def sgtm(fake: FakeCloudRun, *argv: str) -> int:
    return main(["rollout", *argv, "--endpoint", fake.base])


def stats(revision: str, requests: int, errors: int, failures: int, delivered: int) -> dict:
    return {
        "revision": revision,
        "requests": requests,
        "errors_5xx": errors,
        "delivery_failures": failures,
        "delivered": delivered,
    }


def gate_args(fake: FakeCloudRun) -> list[str]:
    return ["--gate", "--canary-url", f"{fake.base}/canary", "--stable-url", f"{fake.base}/stable"]


def test_canary_moves_n_percent_to_the_newest_ready_revision(run, capsys):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    assert run.split() == {"sgtm-00001-aaa": (90, "stable"), "sgtm-00002-bbb": (10, "canary")}
    # google-cloud-run's REST transport sends enums as integers.
    assert {t["type"] for t in run.patches[-1]["traffic"]} == {2}
    out = capsys.readouterr().out
    assert "after canary" in out and f"https://canary---{run.host}" in out


def test_canary_format_json_prints_one_document_before_and_after(run, capsys):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10", "--format", "json") == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # the account of the step went to stderr
    assert document["step"] == "canary"
    assert {(s["revision"], s["percent"]) for s in document["after"]} == {
        ("sgtm-00001-aaa", 90),
        ("sgtm-00002-bbb", 10),
    }
    assert "after canary" in captured.err


def test_canary_can_be_raised_step_by_step(run):
    run.deploy("sgtm-00002-bbb")
    for percent in ("10", "50"):
        assert sgtm(run, "canary", SERVICE, "--percent", percent) == 0
    assert run.split() == {"sgtm-00001-aaa": (50, "stable"), "sgtm-00002-bbb": (50, "canary")}


def test_canary_refuses_when_the_newest_revision_already_has_everything(run, capsys):
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 1
    assert "already serves 100%" in capsys.readouterr().err
    assert run.patches == []


def test_canary_percent_out_of_range_is_a_usage_error(run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sgtm(run, "canary", SERVICE, "--percent", "100")
    assert exit_info.value.code == 2
    assert "must be between 1 and 99" in capsys.readouterr().err


def test_promote_then_rollback_returns_to_the_previous_revision(run):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    assert sgtm(run, "promote", SERVICE) == 0
    assert run.split() == {"sgtm-00002-bbb": (100, "stable"), "sgtm-00001-aaa": (0, "previous")}
    assert sgtm(run, "rollback", SERVICE) == 0
    assert run.split() == {"sgtm-00001-aaa": (100, "stable"), "sgtm-00002-bbb": (0, "rolled-back")}


def test_rollback_during_a_canary_returns_everything_to_stable(run):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "25") == 0
    assert sgtm(run, "rollback", SERVICE) == 0
    assert run.split() == {"sgtm-00001-aaa": (100, "stable"), "sgtm-00002-bbb": (0, "rolled-back")}
    # The rolled-back revision is not promoted by accident later.
    assert sgtm(run, "promote", SERVICE) == 1


def test_rollback_with_nothing_to_return_to_is_refused(run, capsys):
    assert sgtm(run, "rollback", SERVICE) == 1
    assert "nothing to roll back to" in capsys.readouterr().err


def test_promote_with_a_healthy_gate(run, capsys):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    run.stats = {
        "canary": stats("sgtm-00002-bbb", 1200, 3, 5, 1000),
        "stable": stats("sgtm-00001-aaa", 10800, 20, 60, 9000),
    }
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 0
    assert run.split()["sgtm-00002-bbb"] == (100, "stable")
    assert "gate: canary is healthy enough" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("canary", "reason"),
    [
        (stats("sgtm-00002-bbb", 1000, 40, 0, 900), "canary 5xx rate 4.00% is worse"),
        (stats("sgtm-00002-bbb", 1000, 0, 100, 900), "canary delivery-failure rate 10.00%"),
        (stats("sgtm-00002-bbb", 50, 0, 0, 50), "too little canary traffic to judge: 50"),
        (stats("sgtm-00001-aaa", 1000, 0, 0, 900), "the canary URL answered from revision"),
    ],
)
def test_the_gate_refuses_an_unhealthy_or_unproven_canary(run, capsys, canary, reason):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    patches = len(run.patches)
    run.stats = {"canary": canary, "stable": stats("sgtm-00001-aaa", 9000, 9, 45, 9000)}
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 1
    assert len(run.patches) == patches
    assert run.split()["sgtm-00002-bbb"] == (10, "canary")
    err = capsys.readouterr().err
    assert "not promoting" in err and reason in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (503, "/canary/v1/stats: HTTP 503"),
        ("not json", "/canary/v1/stats: answer is not JSON"),
        ({"revision": "x", "requests": -1}, "field 'requests' must be a non-negative integer"),
    ],
)
def test_the_gate_refuses_when_the_stats_cannot_be_read(run, capsys, body, message):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    run.stats = {"canary": body, "stable": stats("sgtm-00001-aaa", 9000, 9, 45, 9000)}
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 1
    assert message in capsys.readouterr().err


def test_long_running_operations_are_polled(run):
    run.deploy("sgtm-00002-bbb")
    run.pending_polls = 2
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    assert run.split()["sgtm-00002-bbb"] == (10, "canary")
    assert run.pending_polls == 0


def test_status_shows_plan_split_and_cloud_run_traffic(run, capsys):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    capsys.readouterr()
    assert sgtm(run, "status", "examples/shop/plan.yaml", "--service", SERVICE) == 0
    out = capsys.readouterr().out
    assert "meta" in out and "buckets 0-49 / buckets 50-99" in out
    assert "sgtm-00002-bbb" in out and "tag canary" in out


def test_unknown_service_and_missing_project_are_reported(run, capsys, monkeypatch):
    assert sgtm(run, "promote", SERVICE.replace("sgtm", "nope")) == 1
    assert "not found" in capsys.readouterr().err
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    assert sgtm(run, "promote", "sgtm") == 1
    assert "needs a project" in capsys.readouterr().err


def test_short_service_name_uses_project_and_region(run):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", "sgtm", "--project", "shop-prod", "--percent", "5") == 0
    assert run.split()["sgtm-00002-bbb"] == (5, "canary")


def test_status_reports_plan_errors_with_their_location(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\nversion: [\n")
    assert main(["rollout", "status", str(plan)]) == 1
    assert f"{plan}:" in capsys.readouterr().err


def test_judge_margins():
    rules = GateRules(
        min_requests=100, max_error_rate_increase=0.01, max_failure_rate_increase=0.02
    )
    stable = Stats("a", 1000, 10, 20, 980)  # 1% errors, 2% failures
    assert judge(Stats("b", 1000, 19, 39, 961), stable, rules) == []  # just inside both
    assert len(judge(Stats("b", 1000, 21, 39, 961), stable, rules)) == 1
    assert len(judge(Stats("b", 1000, 21, 45, 955), stable, rules)) == 2
    # a canary with no deliveries yet has no failure rate to hold against it
    assert judge(Stats("b", 100, 0, 0, 0), stable, rules) == []


def test_the_gate_reads_the_sidecars_delivery_scope(run, capsys):
    run.deploy("sgtm-00002-bbb")
    assert sgtm(run, "canary", SERVICE, "--percent", "10") == 0
    stable = stats("sgtm-00001-aaa", 9000, 9, 45, 9000)
    canary = stats("sgtm-00002-bbb", 1000, 1, 0, 0)
    run.stats = {"canary": {**canary, "scope": {"delivery": "unavailable"}}, "stable": stable}
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 1
    assert "could not read its delivery figures" in capsys.readouterr().err

    run.stats["canary"] = {**canary, "scope": {"delivery": "not counted by this backend"}}
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 0
    assert "the delivery-failure check is skipped" in capsys.readouterr().out


def test_the_gate_needs_the_server_keyset_to_read_the_stats(run, capsys, monkeypatch):
    run.deploy("sgtm-00002-bbb")
    sgtm(run, "canary", SERVICE, "--percent", "10")
    monkeypatch.delenv("WEB_SIGNING_KEYS")
    assert sgtm(run, "promote", SERVICE, *gate_args(run)) == 1
    assert "WEB_SIGNING_KEYS: not set" in capsys.readouterr().err
