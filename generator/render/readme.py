"""``OUT/README.md``: how to import the container and what to fill in afterwards."""

from __future__ import annotations

from typing import Any

from formats.plan import model as m
from generator.render.env import render
from generator.render.templates import TemplateFile

# The row the bigquery tag writes (templates/tpl/bigquery.js.jinja, docs/generator.md).
BIGQUERY_COLUMNS = (
    "`event_id` STRING REQUIRED, `event_name` STRING REQUIRED, `destination` STRING REQUIRED, "
    "`event_timestamp` TIMESTAMP, `client_id` STRING, `session_id` STRING, "
    "`transaction_id` STRING, `currency` STRING, `page_location` STRING, "
    "`page_referrer` STRING, `value` FLOAT64, `consent` STRING, `params` STRING, "
    "`items` STRING, `user_data` STRING (the last four hold JSON text)"
)


def credentials(plan: m.Plan) -> list[tuple[str, list[str]]]:
    users: dict[str, list[str]] = {}
    for dest in plan.destinations.values():
        for role, ref in dest.credentials.items():
            users.setdefault(ref.env, []).append(f"`{dest.name}` ({role})")
    return sorted(users.items())


def notes(plan: m.Plan) -> list[str]:
    out = []
    for dest in plan.destinations.values():
        if dest.kind == "google_ads":
            out.append(
                f"`{dest.name}` (Google Ads API): give the tagging server's service account "
                f"access to Ads account {dest.settings['customer_id']} and fill the developer "
                "token constant; events upload to the conversion actions the plan names."
            )
        if dest.kind == "bigquery":
            out.append(
                f"`{dest.name}` (BigQuery): the tagging server's service account needs "
                f"BigQuery Data Editor on `{dest.settings['project']}.{dest.settings['dataset']}`; "
                f"create `{dest.settings['table']}` with the columns {BIGQUERY_COLUMNS}."
            )
    return out


def readme(
    plan: m.Plan, templates: list[TemplateFile], export: dict[str, Any], key_ids: tuple[str, ...]
) -> str:
    version = export["containerVersion"]
    return render(
        "container/README.md.jinja",
        plan=plan,
        templates=templates,
        triggers=version.get("trigger", []),
        variables=version.get("variable", []),
        credentials=credentials(plan),
        key_ids=key_ids,
        notes=notes(plan),
    )
