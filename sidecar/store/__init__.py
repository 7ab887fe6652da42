"""Sidecar storage backends; see ``base`` for the contract."""

from sidecar.store.base import EnqueueResult, OutboxRecord, Store, StoreUnavailable

__all__ = ["EnqueueResult", "OutboxRecord", "Store", "StoreUnavailable"]
