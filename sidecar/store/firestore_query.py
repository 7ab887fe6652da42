"""Small Firestore helpers shared by the GCP store and its reconciliation reads: field
filters and timestamps (kept apart so neither module imports the other)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _f(field: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, op, value)


def _eq(field: str, value: Any) -> Any:
    return _f(field, "==", value)


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
