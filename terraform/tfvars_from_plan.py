"""Write the Terraform variables that must agree with a tracking plan.

The sidecar refuses to start unless every secret environment variable it reads is set,
and the Firestore TTLs, log bucket and audit table must keep data as long as the plan says. So
these values are derived from the plan, never typed twice:

    .venv/bin/python terraform/tfvars_from_plan.py examples/shop/plan.yaml \
        -o terraform/plan.auto.tfvars.json

Terraform loads `*.auto.tfvars.json` by itself. Output is sorted JSON, so re-running it on an
unchanged plan changes nothing. Exit codes: 0 written, 1 the plan is invalid or unreadable,
2 bad command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from formats.plan.errors import PlanError
from formats.plan.loader import load_plan
from formats.plan.model import Plan


def secret_id(prefix: str, env: str) -> str:
    """SHOPIFY_WEBHOOK_SECRET -> sgtm-shopify-webhook-secret (Secret Manager id syntax)."""
    return f"{prefix}-{env.lower().replace('_', '-')}"


def tfvars(plan: Plan, prefix: str = "sgtm") -> dict[str, Any]:
    out: dict[str, Any] = {
        "region": plan.region,
        "retention_days": plan.retention_days,
        "client_path": plan.delivery.client_path,
    }
    delivery_env = plan.delivery.keys.env if plan.delivery.keys is not None else None
    if delivery_env is not None:
        out["delivery_keys_env"] = delivery_env
    envs = sorted({ref.env for ref in plan.sidecar_secret_refs()} - {delivery_env})
    out["sidecar_secret_env"] = {env: secret_id(prefix, env) for env in envs}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path, help="the tracking plan YAML")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.add_argument(
        "--prefix", default="sgtm", help="secret id prefix, as name_prefix (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.plan}: cannot read the plan: {exc.strerror or exc}", file=sys.stderr)
        return 1
    text = json.dumps(tfvars(plan, args.prefix), indent=2, sort_keys=True) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
