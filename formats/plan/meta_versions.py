"""Meta's published Marketing API (Conversions API) versions, with their expiry dates.

The one place these dates live. Source: Meta's Marketing API version history,
https://developers.facebook.com/documentation/ads-commerce/marketing-api/marketing-api-changelog/versions
(checked 2026-12-02; docs/destinations.md cites it). Meta: "Once a version is unavailable, any
calls made to that version number may fail or be upgraded to the next available version", so an
expired version is an error and one close to expiry a warning (``sgtm plan check``).

When Meta publishes a new version or dates an expiry, edit ``VERSIONS`` and ``CHECKED`` together.
The Graph API has its own, longer table on another page; the Conversions API follows the
Marketing API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

SOURCE = (
    "https://developers.facebook.com/documentation/ads-commerce/marketing-api/"
    "marketing-api-changelog/versions"
)
CHECKED = date(2026, 12, 2)
# The newest published version: Meta's upgrade guide recommends the latest, as it "maximizes
# the time between upgrades".
DEFAULT_VERSION = "v27.0"
# How long before expiry `sgtm plan check` starts warning.
WARN_DAYS = 90


@dataclass(frozen=True)
class MetaVersion:
    version: str
    released: date
    expires: date | None  # None: Meta says "TBD"


VERSIONS: tuple[MetaVersion, ...] = (
    MetaVersion("v27.0", date(2026, 11, 4), None),
    MetaVersion("v26.0", date(2026, 7, 29), None),
    MetaVersion("v25.0", date(2026, 2, 18), date(2027, 2, 23)),
    MetaVersion("v24.0", date(2025, 10, 8), date(2026, 11, 10)),
    MetaVersion("v23.0", date(2025, 5, 29), date(2026, 6, 9)),
    MetaVersion("v22.0", date(2025, 1, 21), date(2026, 2, 19)),
    MetaVersion("v21.0", date(2024, 10, 2), date(2025, 9, 9)),
    MetaVersion("v20.0", date(2024, 5, 21), date(2025, 5, 6)),
    MetaVersion("v19.0", date(2024, 1, 23), date(2025, 2, 4)),
    MetaVersion("v18.0", date(2023, 9, 12), date(2024, 8, 13)),
    MetaVersion("v17.0", date(2023, 5, 23), date(2024, 5, 14)),
    MetaVersion("v16.0", date(2023, 2, 2), date(2024, 2, 6)),
)
_BY_NAME = {v.version: v for v in VERSIONS}
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Verdict:
    level: str  # "ok", "warning" or "error"
    message: str
    suggestion: str = ""


def _key(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_version(version: str, today: date) -> Verdict:
    """Judge ``version`` as of ``today`` against the table."""
    upgrade = (
        f"use {DEFAULT_VERSION}, the newest in Meta's table as checked on {CHECKED.isoformat()}"
    )
    known = _BY_NAME.get(version)
    key = _key(version)
    if known is None:
        if key is None:
            return Verdict("error", f"{version!r} is not a Meta API version like v27.0", upgrade)
        # Meta expires versions in order: older than an expired one is expired too.
        expired = [v for v in VERSIONS if v.expires is not None and v.expires <= today]
        if any(key <= (_key(v.version) or (0, 0)) for v in expired):
            return Verdict("error", f"Meta API {version} expired before {today}", upgrade)
        return Verdict(
            "warning",
            f"Meta API {version} is not in the table of published versions "
            f"(generator/plan/meta_versions.py, checked {CHECKED.isoformat()}): its expiry "
            "cannot be checked",
            f"check {SOURCE} and add it to the table",
        )
    if known.expires is None:
        return Verdict("ok", f"Meta API {version}: no expiry date published")
    if known.expires <= today:
        return Verdict(
            "error",
            f"Meta API {version} expired on {known.expires.isoformat()}: calls to it may fail "
            "or be upgraded to another version",
            upgrade,
        )
    left = (known.expires - today).days
    if left <= WARN_DAYS:
        return Verdict(
            "warning",
            f"Meta API {version} expires on {known.expires.isoformat()}, in {left} day(s)",
            upgrade,
        )
    return Verdict("ok", f"Meta API {version} expires on {known.expires.isoformat()}")
