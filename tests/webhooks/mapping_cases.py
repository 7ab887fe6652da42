"""Run one fixture through its platform's pure mapping (shared by the tests and by
``python -m tests.webhooks.mapping_cases --write`` to re-create expected files for review)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sidecar.webhooks import shopify, stripe, woocommerce
from sidecar.webhooks.payload import parse_body

FIXTURES = Path(__file__).parent / "fixtures"


def cases() -> list[tuple[str, str]]:
    return sorted(
        (p.parent.name, p.name.removesuffix(".input.json")) for p in FIXTURES.glob("*/*.input.json")
    )


def map_case(platform: str, name: str) -> dict[str, Any]:
    raw = (FIXTURES / platform / f"{name}.input.json").read_bytes()
    case = parse_body(raw)  # amounts stay Decimal, as in the service
    payload, settings = case["payload"], case.get("settings")
    if platform == "shopify":
        mapped = shopify.map_webhook(
            case["topic"], payload, settings, webhook_id=case.get("webhook_id")
        )
    elif platform == "woocommerce":
        mapped = woocommerce.map_webhook(case["topic"], payload, settings)
    else:
        mapped = stripe.map_event(payload, settings)
    return mapped.as_dict()


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance aid, output reviewed by hand
    for platform, name in cases():
        out = FIXTURES / platform / f"{name}.expected.json"
        if "--write" in sys.argv or not out.exists():
            out.write_text(dumps(map_case(platform, name)), encoding="utf-8")
            print("wrote", out)
