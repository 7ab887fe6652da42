"""Cloud Run Admin API v2 access for the revision rollout: read and set a service's traffic.

Uses google-cloud-run's ServicesClient over the REST transport (one dependency path for
production and for the local fake the tests run against).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

ENDPOINT_ENV = "SGTM_CLOUDRUN_ENDPOINT"
DEFAULT_REGION = "europe-west1"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class CloudRunError(RuntimeError):
    """A rollout step that cannot be done; the message says why."""


@dataclass(frozen=True)
class Split:
    """One revision's share of traffic (percent may be 0 for a tag-only target)."""

    revision: str
    percent: int
    tag: str = ""
    url: str = ""


@dataclass(frozen=True)
class ServiceTraffic:
    name: str
    uri: str
    latest_ready: str  # short revision name ("sgtm-00003-abc"), "" when none is ready
    splits: tuple[Split, ...]

    def by_tag(self, tag: str) -> Split | None:
        return next((s for s in self.splits if s.tag == tag), None)

    def percent_of(self, revision: str) -> int:
        return sum(s.percent for s in self.splits if s.revision == revision)

    def tag_url(self, tag: str) -> str:
        """Cloud Run's tag URL: https://<tag>---<service host>."""
        split = self.by_tag(tag)
        if split is not None and split.url:
            return split.url
        host = urlparse(self.uri).hostname
        if not host:
            raise CloudRunError(f"service {self.name} reports no URL to derive the {tag} URL from")
        return f"https://{tag}---{host}"


def service_name(service: str, project: str | None, region: str | None) -> str:
    if service.startswith("projects/"):
        parts = service.split("/")
        if len(parts) != 6 or parts[2] != "locations" or parts[4] != "services":
            raise CloudRunError(
                f"{service!r} is not projects/PROJECT/locations/REGION/services/NAME"
            )
        return service
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise CloudRunError(
            f"service {service!r} needs a project: pass --project, set GOOGLE_CLOUD_PROJECT, "
            "or give the full projects/P/locations/R/services/S name"
        )
    return f"projects/{project}/locations/{region or DEFAULT_REGION}/services/{service}"


def services_client(endpoint: str | None = None, key_file: str | None = None) -> Any:
    """A ServicesClient on the REST transport; a loopback ``endpoint`` (or
    $SGTM_CLOUDRUN_ENDPOINT) is a local fake and gets anonymous credentials (testing aid)."""
    from google.cloud import run_v2

    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    credentials = None
    if key_file:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            key_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    elif endpoint and urlparse(endpoint).hostname in _LOOPBACK:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    options = {"api_endpoint": endpoint} if endpoint else None
    return run_v2.ServicesClient(transport="rest", credentials=credentials, client_options=options)


def _short(revision: str) -> str:
    return revision.rsplit("/", 1)[-1] if revision else ""


def traffic_of(service: Any) -> ServiceTraffic:
    """The split as Cloud Run reports it serving (traffic_statuses), falling back to the
    requested traffic; "latest" targets are resolved to the latest ready revision."""
    from google.cloud import run_v2

    latest = _short(service.latest_ready_revision)
    entries = list(service.traffic_statuses) or list(service.traffic)
    splits = []
    for entry in entries:
        revision = _short(entry.revision)
        if entry.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST:
            revision = revision or latest
        splits.append(
            Split(revision, int(entry.percent), entry.tag, getattr(entry, "uri", "") or "")
        )
    return ServiceTraffic(service.name, service.uri, latest, tuple(splits))


def get_service(client: Any, name: str) -> Any:
    from google.api_core import exceptions

    try:
        return client.get_service(name=name)
    except exceptions.NotFound:
        raise CloudRunError(f"service {name} not found") from None
    except exceptions.GoogleAPICallError as exc:
        raise CloudRunError(f"reading {name}: {exc.message}") from None


def set_traffic(client: Any, service: Any, splits: list[Split], timeout: float = 300) -> Any:
    """Replace the service's traffic with ``splits`` (pinned to revisions) and wait for it."""
    from google.api_core import exceptions
    from google.cloud import run_v2

    if sum(s.percent for s in splits) != 100:
        raise CloudRunError(f"traffic must add up to 100%, got {splits}")
    service.traffic = [
        run_v2.TrafficTarget(
            type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
            revision=s.revision,
            percent=s.percent,
            tag=s.tag,
        )
        for s in splits
    ]
    try:
        return client.update_service(service=service).result(timeout=timeout)
    except exceptions.GoogleAPICallError as exc:
        raise CloudRunError(f"updating traffic of {service.name}: {exc.message}") from None
