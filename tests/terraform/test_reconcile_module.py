"""The scheduled reconciliation in terraform/modules/reconcile matches what the CLI does."""

from __future__ import annotations

from typing import Any

from sgtm.commands.reconcile import log_lines
from tests.terraform import hcl

FILES = hcl.tf_files_in(hcl.TERRAFORM / "modules" / "reconcile")


def _resource(type_: str, name: str) -> dict[str, Any]:
    for block in hcl.blocks(FILES, "resource"):
        if block.labels == (type_, name):
            return block.body
    raise AssertionError(f"modules/reconcile has no {type_}.{name}")


def test_job_scheduler_and_bucket_share_the_eu_region_from_the_topology():
    job = _resource("google_cloud_run_v2_job", "reconcile")
    cron = _resource("google_cloud_scheduler_job", "daily")
    bucket = _resource("google_storage_bucket", "reports")
    assert job["location"] == cron["region"] == bucket["location"] == "${var.region}"
    (target,) = hcl.nested(cron, "http_target")
    assert target["uri"].endswith(
        "/locations/${var.region}/jobs/${google_cloud_run_v2_job.reconcile.name}:run"
    )
    (call,) = [
        b for b in hcl.blocks(hcl.tf_files(hcl.TERRAFORM), "module") if b.labels == ("reconcile",)
    ]
    assert call.body["region"] == "${module.topology.region}"


def test_reports_are_kept_for_the_plan_retention_and_never_public():
    bucket = _resource("google_storage_bucket", "reports")
    (rule,) = hcl.nested(bucket, "lifecycle_rule")
    (condition,) = hcl.nested(rule, "condition")
    (action,) = hcl.nested(rule, "action")
    assert condition["age"] == "${var.retention_days}" and action["type"] == "Delete"
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["uniform_bucket_level_access"] is True


def test_job_runs_reconcile_with_structured_logs_into_the_bucket():
    job = _resource("google_cloud_run_v2_job", "reconcile")
    (outer,) = hcl.nested(job, "template")
    (inner,) = hcl.nested(outer, "template")
    (container,) = hcl.nested(inner, "containers")
    assert container["command"] == ["sgtm"]
    assert "${local.args}" == container["args"]
    locals_ = {}
    for file in FILES:
        for entry in file.doc.get("locals", []):
            locals_.update(entry)
    args = locals_["args"]
    for flag in ("reconcile", "--log-json", "/reports/{day}.json", "/reports/{day}.html"):
        assert flag in args
    (volume,) = hcl.nested(inner, "volumes")
    (gcs,) = hcl.nested(volume, "gcs")
    assert gcs["bucket"] == "${google_storage_bucket.reports.name}"


def test_metric_counts_exactly_the_records_the_cli_logs_for_a_bad_destination():
    metric = _resource("google_logging_metric", "out_of_band")
    assert 'jsonPayload.type="reconcile_band"' in metric["filter"]
    assert "severity=ERROR" in metric["filter"]
    assert metric["label_extractors"]["destination"] == "EXTRACT(jsonPayload.destination)"

    class _D:  # one destination out of band, one fine
        def __init__(self, band, sla):
            self.band_status, self.sla_status, self.coverage = band, sla, 0.5
            self.eligible = type("T", (), {"count": 2})()
            self.columns = {"acknowledged": type("T", (), {"count": 1})()}

    day = type("Day", (), {"day": __import__("datetime").date(2026, 11, 30)})()
    day.destinations = {"meta": _D("out", "ok"), "ga4": _D("ok", "ok")}
    report = type("R", (), {"plan": "p", "days": [day]})()
    lines = {line["destination"]: line for line in log_lines(report)}
    assert lines["meta"]["type"] == "reconcile_band" and lines["meta"]["severity"] == "ERROR"
    assert lines["ga4"]["severity"] == "INFO"


def test_firestore_index_covers_the_conversion_scan():
    index = _resource("google_firestore_index", "events_by_name_and_time")
    assert index["collection"] == "events"
    fields = [(f["field_path"], f["order"]) for f in hcl.nested(index, "fields")]
    # sidecar/store/reconcile_gcp.py: event_name == X, accepted_at >= / < range
    assert fields == [("event_name", "ASCENDING"), ("accepted_at", "ASCENDING")]
