"""Build a delivery worker from the environment and the plan (shared by the CLI, the push
endpoint, the demo and the bench), with every configuration problem reported by name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from formats.plan import PlanError, load_plan
from formats.plan.model import Plan
from formats.signing import KeysetError, keyset_from_env
from sidecar.delivery.policy import RetryPolicy
from sidecar.delivery.throttle import Throttle
from sidecar.delivery.transport import HttpTransport
from sidecar.delivery.worker import Worker
from sidecar.store.base import StoreUnavailable
from sidecar.store.factory import open_store_from_env

DEFAULT_KEYS_VAR = "SGTM_DELIVERY_KEYS"


class DeliveryConfigError(ValueError):
    """Configuration that stops the worker from starting; the message names the variable."""


@dataclass(frozen=True)
class DeliverySettings:
    plan: Plan
    collect_url: str
    keys_var: str
    batch_size: int


def load_settings(
    env: Mapping[str, str], plan_path: str | None = None, collect_url: str | None = None
) -> DeliverySettings:
    plan_path = plan_path or env.get("SGTM_PLAN", "")
    if not plan_path:
        raise DeliveryConfigError(
            "SGTM_PLAN is not set (or pass --plan): the plan gives retry "
            "windows, attempts and the delivery keyset variable"
        )
    try:
        plan = load_plan(plan_path)
    except PlanError as exc:
        raise DeliveryConfigError(f"the tracking plan is invalid:\n{exc.report()}") from None
    except OSError as exc:
        raise DeliveryConfigError(
            f"cannot read the tracking plan {plan_path}: {exc.strerror or exc}"
        ) from None
    url = collect_url or env.get("SGTM_COLLECT_URL", "")
    if not url:
        raise DeliveryConfigError(
            "SGTM_COLLECT_URL is not set (or pass --collect-url): where "
            f"batches go, e.g. https://collect.example.com{plan.delivery.client_path}"
        )
    keys_var = plan.delivery.keys.env if plan.delivery.keys else DEFAULT_KEYS_VAR
    return DeliverySettings(plan, url, keys_var, plan.delivery.batch_size)


def housekeeping_for(store: Any, plan: Plan) -> Any:
    """What the worker runs on idle turns for this backend (None when it needs nothing)."""
    if hasattr(store, "purge"):  # SQLite: expired dedupe keys and contexts, rows past retention
        window = plan.dedupe_window_hours * 3600
        retention = plan.retention_days * 86400
        return lambda now: store.purge(now, window, retention)
    if hasattr(store, "sweep"):  # gcp: events whose publish did not complete
        return lambda _now: store.sweep()
    return None


def build_worker(
    env: Mapping[str, str] | None = None,
    *,
    store: Any = None,
    plan_path: str | None = None,
    collect_url: str | None = None,
    timeout_s: float = 10.0,
    **worker_kw: Any,
) -> Worker:
    env = os.environ if env is None else env
    settings = load_settings(env, plan_path, collect_url)
    try:
        keyset = keyset_from_env(settings.keys_var, env)
    except KeysetError as exc:
        raise DeliveryConfigError(f"delivery keyset: {exc}") from None
    try:
        transport = HttpTransport(settings.collect_url, timeout_s=timeout_s)
    except ValueError as exc:
        raise DeliveryConfigError(str(exc)) from None
    if store is None:
        if env.get("SGTM_BACKEND", "sqlite") in ("", "sqlite"):
            from sidecar.errors import StartupError
            from sidecar.store.factory import check_data_dir

            try:
                check_data_dir(env.get("SGTM_OUTBOX", "./sgtm-outbox.sqlite"))
            except StartupError as exc:
                raise DeliveryConfigError(exc.message) from None
        try:
            extra = {"retention_days": settings.plan.retention_days}
            store = open_store_from_env(env, **(extra if env.get("SGTM_BACKEND") == "gcp" else {}))
        except (ValueError, StoreUnavailable) as exc:
            raise DeliveryConfigError(f"cannot open the outbox: {exc}") from None
    worker_kw.setdefault("batch_size", settings.batch_size)
    worker_kw.setdefault("housekeeping", housekeeping_for(store, settings.plan))
    worker_kw.setdefault(
        "throttle",
        Throttle.from_rates({n: d.max_rate_per_s for n, d in settings.plan.destinations.items()}),
    )
    worker = Worker(store, keyset, RetryPolicy.from_plan(settings.plan), transport, **worker_kw)
    worker.plan = settings.plan  # type: ignore[attr-defined]  # for log redaction of its secrets
    return worker
