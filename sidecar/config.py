"""The sidecar's settings, read from the environment (docs/architecture.md, "Sidecar
configuration"), and the start-up check that refuses to run on a bad plan or missing secrets.

``Config`` is plain data: tests build one directly (flaskr's test-config argument) and
production builds it with ``Config.from_env()``. The environment snapshot it keeps is where the
plan's secrets are read from; it is never printed (``repr=False``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from formats.plan import Plan, PlanError, load_plan
from formats.signing import SIGNATURE_VERSIONS, KeysetError, parse_keyset
from sidecar.errors import StartupError
from sidecar.verification.auth import load_web_auth

BACKENDS = ("sqlite", "gcp")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Config:
    plan_path: str
    backend: str = "sqlite"
    outbox: str = "./sgtm-outbox.sqlite"
    collect_url: str = ""
    revision: str = "local"
    project_id: str | None = None
    log_level: str = "INFO"
    # How many proxies in front set X-Forwarded-For (Cloud Run: 1). 0 trusts none.
    trusted_proxies: int = 0
    rate_limits: bool = True
    rate_limit_storage: str = "memory://"
    # Server signature versions accepted (docs/architecture.md): "v2" alone once every sender
    # signs method and path.
    signature_versions: tuple[str, ...] = SIGNATURE_VERSIONS
    # Where the secrets named by the plan are read from; os.environ in production.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # An already opened store (tests, embedding); otherwise ``open_store`` builds one.
    store: Any = field(default=None, repr=False, compare=False)
    # Where log lines go (tests capture them); stdout by default, which Cloud Run collects.
    log_stream: IO[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        problems: list[str] = []
        plan_path = env.get("SGTM_PLAN", "")
        if not plan_path:
            problems.append("SGTM_PLAN is not set; it must name the tracking plan file")
        backend = env.get("SGTM_BACKEND", "sqlite")
        if backend not in BACKENDS:
            problems.append(f"SGTM_BACKEND={backend!r}; expected one of {', '.join(BACKENDS)}")
        level = env.get("SGTM_LOG_LEVEL", "INFO").upper()
        if level not in LOG_LEVELS:
            problems.append(f"SGTM_LOG_LEVEL={level!r}; expected one of {', '.join(LOG_LEVELS)}")
        proxies = _int(env, "SGTM_TRUSTED_PROXIES", 0, problems)
        limits = env.get("SGTM_RATE_LIMITS", "on").lower()
        if limits not in ("on", "off"):
            problems.append(f"SGTM_RATE_LIMITS={limits!r}; expected on or off")
        raw_versions = env.get("SGTM_SIGNATURE_VERSIONS", ",".join(SIGNATURE_VERSIONS))
        versions = tuple(v.strip() for v in raw_versions.split(",") if v.strip())
        if not versions or any(v not in SIGNATURE_VERSIONS for v in versions):
            problems.append(
                f"SGTM_SIGNATURE_VERSIONS={raw_versions!r}; expected a comma-separated list of "
                + ", ".join(SIGNATURE_VERSIONS)
            )
        if problems:
            raise StartupError("; ".join(problems))
        return cls(
            plan_path=plan_path,
            backend=backend,
            outbox=env.get("SGTM_OUTBOX", "./sgtm-outbox.sqlite"),
            collect_url=env.get("SGTM_COLLECT_URL", ""),
            revision=env.get("K_REVISION", "local"),
            project_id=env.get("GOOGLE_CLOUD_PROJECT") or None,
            log_level=level,
            trusted_proxies=proxies,
            rate_limits=limits == "on",
            rate_limit_storage=env.get("SGTM_RATE_LIMIT_STORAGE", "memory://"),
            signature_versions=versions,
            environ=env,
        )


def _int(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not an integer")
        return default
    if value < 0:
        problems.append(f"{name}={raw!r} must not be negative")
        return default
    return value


@dataclass(frozen=True)
class Loaded:
    """What start-up produces: the valid plan and the secret values it names."""

    plan: Plan
    secrets: Mapping[str, str] = field(repr=False)


def load(config: Config) -> Loaded:
    """Load the plan and its secrets, or raise one ``StartupError`` that names every problem."""
    try:
        plan = load_plan(config.plan_path)
    except PlanError as exc:
        raise StartupError(f"the tracking plan is invalid:\n{exc.report()}") from None
    except OSError as exc:
        raise StartupError(
            f"cannot read the tracking plan {config.plan_path}: {exc.strerror or exc}"
        ) from None
    secrets: dict[str, str] = {}
    missing: list[str] = []
    for ref in plan.sidecar_secret_refs():
        if ref.env in secrets or any(m.startswith(f"{ref.env} ") for m in missing):
            continue  # named twice in the plan
        value = config.environ.get(ref.env, "")
        if value == "":
            missing.append(f"{ref.env} (named by {ref.where})")
        else:
            secrets[ref.env] = value
    if missing:
        raise StartupError(
            f"{len(missing)} secret environment variable(s) named by the plan "
            f"{config.plan_path} are not set: " + ", ".join(missing)
        )
    _check_keysets(plan, secrets)
    # The rest of the web source's settings (origins), exactly as the app will read them.
    load_web_auth(plan, secrets, config.signature_versions)
    return Loaded(plan=plan, secrets=secrets)


def _check_keysets(plan: Plan, secrets: Mapping[str, str]) -> None:
    """Parse every keyset the plan names, now: gunicorn calls ``load`` before it forks, and a
    keyset first parsed in the workers would crash each of them with a traceback instead."""
    refs = [
        ref
        for source in plan.sources.values()
        if source.kind == "web"
        for role, ref in source.secrets.items()
        if role in ("token_keys", "signing_keys")
    ]
    if plan.delivery.keys is not None:
        refs.append(plan.delivery.keys)
    problems: list[str] = []
    for ref in refs:
        try:
            parse_keyset(secrets.get(ref.env), source=ref.env)
        except KeysetError as exc:
            problems.append(f"{exc} (named by {ref.where})")
    if problems:
        raise StartupError("; ".join(problems))
