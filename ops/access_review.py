"""`sgtm audit access`: who read or exported event data, configuration or secrets.

Reads the Data Access audit logs that Terraform enables for Firestore, BigQuery, Secret Manager
and Cloud Storage (terraform/modules/observability) through the Cloud Logging API with
`google-cloud-logging`, and lists one row per principal, method and resource with how often
and when. The monthly review is described in docs/privacy.md, "Access review".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SERVICES = (
    "bigquery.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
# Methods that copy data out in bulk: flagged so the review looks at them first.
EXPORT_WORDS = ("Export", "Extract", "export", "extract", "CopyObject", "objects.copy")
DATA_ACCESS_LOG = "cloudaudit.googleapis.com%2Fdata_access"


@dataclass(frozen=True)
class AccessRow:
    principal: str
    service: str
    method: str
    resource: str
    count: int
    first: str  # RFC 3339, UTC
    last: str
    export: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def log_filter(since: datetime, services: Iterable[str] = SERVICES) -> str:
    names = " OR ".join(f'"{s}"' for s in services)
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'logName:"{DATA_ACCESS_LOG}" AND protoPayload.serviceName=({names}) '
        f'AND timestamp>="{stamp}"'
    )


def _payload(entry: Any) -> dict[str, Any]:
    payload = getattr(entry, "payload", None)
    if isinstance(payload, dict):
        return payload
    # A protobuf AuditLog (gRPC transport): to a plain dict with the JSON field names.
    from google.protobuf.json_format import MessageToDict

    try:
        return MessageToDict(payload)  # type: ignore[arg-type]
    except (TypeError, AttributeError):
        return {}


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


def summarise(entries: Iterable[Any]) -> list[AccessRow]:
    """One row per (principal, service, method, resource), most frequent first."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for entry in entries:
        payload = _payload(entry)
        auth = payload.get("authenticationInfo") or {}
        principal = (
            auth.get("principalEmail")
            or auth.get("principalSubject")
            or ("(anonymous)" if auth == {} else "(unknown)")
        )
        key = (
            str(principal),
            str(payload.get("serviceName") or ""),
            str(payload.get("methodName") or ""),
            str(payload.get("resourceName") or ""),
        )
        groups.setdefault(key, []).append(_stamp(getattr(entry, "timestamp", None)))
    rows = [
        AccessRow(
            principal=k[0],
            service=k[1],
            method=k[2],
            resource=k[3],
            count=len(times),
            first=min(times),
            last=max(times),
            export=any(word in k[2] for word in EXPORT_WORDS),
        )
        for k, times in groups.items()
    ]
    return sorted(rows, key=lambda r: (not r.export, -r.count, r.principal, r.method, r.resource))


def fetch(
    project: str,
    days: int,
    *,
    resource_names: list[str] | None = None,
    api_endpoint: str | None = None,
    now: datetime | None = None,
    client: Any = None,
) -> list[AccessRow]:
    """Read the last `days` of Data Access audit entries and summarise them."""
    if client is None:
        from google.cloud import logging as cloud_logging

        options = {"api_endpoint": api_endpoint} if api_endpoint else None
        credentials = None
        if api_endpoint and api_endpoint.startswith("http://"):
            # A local stand-in (tests): no Google credentials on the wire.
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        client = cloud_logging.Client(
            project=project,
            credentials=credentials,
            client_options=options,
            _use_grpc=False,
        )
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    entries = client.list_entries(
        resource_names=resource_names or [f"projects/{project}"],
        filter_=log_filter(since),
        order_by="timestamp asc",
        page_size=1000,
    )
    return summarise(entries)


def text(rows: list[AccessRow], project: str, days: int) -> str:
    if not rows:
        return f"{project}: no data access in the last {days} days"
    header = ("principal", "method", "resource", "count", "first", "last")
    table = [header] + [
        (
            r.principal + (" [export]" if r.export else ""),
            r.method,
            r.resource,
            str(r.count),
            r.first,
            r.last,
        )
        for r in rows
    ]
    widths = [min(max(len(row[i]) for row in table), 70) for i in range(len(header))]
    lines = [
        "  ".join(cell[:70].ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in table
    ]
    total = sum(r.count for r in rows)
    principals = len({r.principal for r in rows})
    lines.append(
        f"{total} access(es) by {principals} principal(s) in the last {days} days "
        f"({sum(r.export for r in rows)} export row(s))"
    )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="review who accessed event data, configuration and secrets",
        description="Reports from the project's audit logs.",
    )
    sub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    access = sub.add_parser(
        "access",
        help="who read or exported data in the last N days (Data Access audit logs)",
        description="List principal, method, resource, count and first/last time of every read "
        "or export of Firestore, BigQuery, Secret Manager and Cloud Storage data, from the "
        "Data Access audit logs Terraform enables. Exports are listed first.",
    )
    access.add_argument("--project", required=True, help="Google Cloud project id")
    access.add_argument("--days", type=int, default=30, help="how far back (default: 30)")
    access.add_argument(
        "--bucket",
        help="read this log bucket's view instead of the project's logs, e.g. "
        "projects/P/locations/europe-west1/buckets/sgtm-logs/views/_AllLogs",
    )
    access.add_argument(
        "--api-endpoint", help="Cloud Logging API endpoint (a private endpoint or a stand-in)"
    )
    access.add_argument("--format", choices=("text", "json"), default="text")
    access.set_defaults(func=cmd_access)


def cmd_access(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        print(f"error: --days {args.days}: expected 1 to 3650", file=sys.stderr)
        return 2
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        rows = fetch(
            args.project,
            args.days,
            resource_names=[args.bucket] if args.bucket else None,
            api_endpoint=args.api_endpoint,
        )
    except auth_exc.DefaultCredentialsError as exc:
        print(f"error: no Google credentials: {exc}", file=sys.stderr)
        return 1
    except gexc.GoogleAPIError as exc:
        print(f"error: Cloud Logging API: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        json.dump(
            {"project": args.project, "days": args.days, "rows": [r.as_dict() for r in rows]},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print(text(rows, args.project, args.days))
    return 0
