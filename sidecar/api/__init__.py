"""The sidecar's HTTP surfaces, one blueprint each, sharing the services built at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from formats.plan.model import Plan
from sidecar.config import Config
from sidecar.ingest import Counters, Pipeline
from sidecar.verification.auth import WebAuth


@dataclass
class Services:
    config: Config
    plan: Plan
    pipeline: Pipeline
    web_auth: WebAuth | None
    counters: Counters
    store: Any
    max_batch: int
    max_body_bytes: int
    rate_limit_per_key: str
    rate_limit_per_ip: str


def services() -> Services:
    return current_app.extensions["sgtm"]
