"""`sgtm audit access`: the Data Access audit logs read through google-cloud-logging's HTTP
client from a local stand-in of the Cloud Logging API (pytest-httpserver on 127.0.0.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from ops.access_review import fetch, log_filter
from sgtm.cli import main

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def entry(principal: str | None, service: str, method: str, resource: str, when: str) -> dict:
    auth = {"principalEmail": principal} if principal else {}
    return {
        "logName": "projects/acme-sgtm/logs/cloudaudit.googleapis.com%2Fdata_access",
        "timestamp": when,
        "resource": {"type": "audited_resource", "labels": {"service": service}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service,
            "methodName": method,
            "resourceName": resource,
            "authenticationInfo": auth,
        },
    }


ENTRIES = [
    entry(
        "ana@acme.example",
        "firestore.googleapis.com",
        "google.firestore.v1.Firestore.RunQuery",
        "projects/acme-sgtm/databases/(default)",
        "2026-11-20T10:00:00Z",
    ),
    entry(
        "ana@acme.example",
        "firestore.googleapis.com",
        "google.firestore.v1.Firestore.RunQuery",
        "projects/acme-sgtm/databases/(default)",
        "2026-11-21T09:30:00Z",
    ),
    entry(
        "bi-export@acme-sgtm.iam.gserviceaccount.com",
        "firestore.googleapis.com",
        "google.firestore.admin.v1.FirestoreAdmin.ExportDocuments",
        "projects/acme-sgtm/databases/(default)",
        "2026-11-25T02:00:00Z",
    ),
    entry(
        "sidecar@acme-sgtm.iam.gserviceaccount.com",
        "secretmanager.googleapis.com",
        "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion",
        "projects/123/secrets/SHOPIFY_WEBHOOK_SECRET/versions/3",
        "2026-11-30T08:00:00Z",
    ),
]


@pytest.fixture
def logging_api(httpserver: HTTPServer) -> HTTPServer:
    # Two pages, as the API pages long answers: the client must follow nextPageToken.
    httpserver.expect_ordered_request("/v2/entries:list", method="POST").respond_with_json(
        {"entries": ENTRIES[:2], "nextPageToken": "page-2"}
    )
    httpserver.expect_ordered_request("/v2/entries:list", method="POST").respond_with_json(
        {"entries": ENTRIES[2:]}
    )
    return httpserver


def test_rows_group_by_principal_method_and_resource_exports_first(logging_api) -> None:
    rows = fetch("acme-sgtm", 30, api_endpoint=logging_api.url_for("").rstrip("/"), now=NOW)
    assert [(r.principal, r.method.rsplit(".", 1)[1], r.count, r.export) for r in rows] == [
        ("bi-export@acme-sgtm.iam.gserviceaccount.com", "ExportDocuments", 1, True),
        ("ana@acme.example", "RunQuery", 2, False),
        ("sidecar@acme-sgtm.iam.gserviceaccount.com", "AccessSecretVersion", 1, False),
    ]
    ana = rows[1]
    assert (ana.first, ana.last) == ("2026-11-20T10:00:00Z", "2026-11-21T09:30:00Z")
    first, second = (request.get_json() for request, _ in logging_api.log)
    assert first["resourceNames"] == ["projects/acme-sgtm"]
    assert first["filter"] == log_filter(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    assert 'timestamp>="2026-11-02T12:00:00Z"' in first["filter"]
    assert "secretmanager.googleapis.com" in first["filter"]
    assert second["pageToken"] == "page-2"


def test_cli_text_and_json(logging_api, capsys) -> None:
    endpoint = logging_api.url_for("").rstrip("/")
    args = ["audit", "access", "--project", "acme-sgtm", "--api-endpoint", endpoint]
    assert main([*args, "--days", "30", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 30 and len(report["rows"]) == 3
    assert report["rows"][0]["export"] is True


def test_cli_text_table(httpserver: HTTPServer, capsys) -> None:
    httpserver.expect_request("/v2/entries:list", method="POST").respond_with_json(
        {"entries": ENTRIES}
    )
    endpoint = httpserver.url_for("").rstrip("/")
    assert main(["audit", "access", "--project", "acme-sgtm", "--api-endpoint", endpoint]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "principal",
        "method",
        "resource",
        "count",
        "first",
        "last",
    ]
    assert "bi-export@acme-sgtm.iam.gserviceaccount.com [export]" in out
    assert "4 access(es) by 3 principal(s) in the last 30 days (1 export row(s))" in out


def test_an_api_error_is_one_line_not_a_traceback(httpserver: HTTPServer, capsys) -> None:
    httpserver.expect_request("/v2/entries:list", method="POST").respond_with_json(
        {"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}},
        status=403,
    )
    endpoint = httpserver.url_for("").rstrip("/")
    assert main(["audit", "access", "--project", "acme-sgtm", "--api-endpoint", endpoint]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Cloud Logging API: 403") and "Traceback" not in err


def test_days_out_of_range(capsys) -> None:
    assert main(["audit", "access", "--project", "p", "--days", "0"]) == 2
    assert "--days 0: expected 1 to 3650" in capsys.readouterr().err
