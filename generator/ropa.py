"""`sgtm plan ropa`: the GDPR Art. 30 record of processing activities, computed from the plan.

Everything here is read from the plan and from what the code does (hashing rules, IP policies,
URL minimisation, retention), so the record cannot drift from the system. Files written:

- ``ropa.md``: the record for people, with a Mermaid data-flow diagram and the table of every
  field stored or sent per destination and consent state (also in docs/privacy.md);
- ``ropa.json``: the same facts for tools;
- ``recipients.csv`` and ``fields.csv``: rows for a DPO's register.

Output is deterministic: plan order, no clocks, no paths.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from formats.plan import model as m
from formats.plan.loader import is_eu_location

# What each kind of destination is, as far as the plan cannot say (a destination's `recipient`
# overrides it).
KIND_RECIPIENTS: dict[str, m.Recipient] = {
    "ga4": m.Recipient(
        "Google Ireland Limited (Google Analytics 4)",
        "processor (Google Ads Data Processing Terms)",
        "US",
    ),
    "google_ads": m.Recipient(
        "Google Ireland Limited (Google Ads)",
        "processor for enhanced conversions (Google Ads Data Processing Terms)",
        "US",
    ),
    "meta_capi": m.Recipient(
        "Meta Platforms Ireland Limited (Conversions API)",
        "joint controller for collection and transmission (Meta Business Tools Terms)",
        "US",
    ),
    "bigquery": m.Recipient(
        "Google Cloud EMEA Limited (BigQuery)", "processor (Cloud Data Processing Addendum)", ""
    ),
    "http": m.Recipient("", "processor", ""),
}
KIND_TITLES = {
    "ga4": "GA4 Measurement Protocol",
    "meta_capi": "Meta Conversions API",
    "google_ads": "Google Ads API",
    "bigquery": "BigQuery",
    "http": "JSON webhook",
}
FIELD_CATEGORIES = {
    "email": "contact details",
    "phone": "contact details",
    "first_name": "identity",
    "last_name": "identity",
    "city": "address",
    "region": "address",
    "postal_code": "address",
    "country": "address",
    "external_id": "customer identifier",
}
GOOGLE_RAW = ("city", "region", "postal_code", "country")  # docs/privacy.md: Google takes raw
# What each kind's tag actually puts in its request (templates/tpl/<kind>.js.jinja).
KIND_IDS = {
    "ga4": ("client_id", "session_id", "user_id"),
    "meta_capi": (),
    "google_ads": (),
    "bigquery": ("client_id", "session_id"),
    "http": ("client_id", "user_id"),
}
CLICK_IDS = {"meta_capi": ("fbp", "fbc"), "google_ads": ("gclid",)}
KIND_URLS = {
    "ga4": "page_location, page_referrer",
    "meta_capi": "page_location (as event_source_url)",
    "bigquery": "page_location, page_referrer",
}
GRANTED, ANONYMISED, DENIED = "granted", "anonymised", "denied"


@dataclass(frozen=True)
class FieldRow:
    destination: str
    state: str  # GRANTED, ANONYMISED, DENIED
    field: str
    form: str  # how it leaves: "sha256", "raw", "/24 + /48", "query minimised", ...


def recipient(plan: m.Plan, dest: m.Destination) -> m.Recipient:
    base = KIND_RECIPIENTS[dest.kind]
    if dest.kind == "bigquery":
        base = m.Recipient(
            base.vendor, base.role, str(dest.settings.get("location") or plan.region)
        )
    if dest.kind == "http":
        host = str(dest.settings.get("url", "")).split("/")[2:3]
        base = m.Recipient(host[0] if host else "", base.role, "not documented")
    override = dest.recipient
    return m.Recipient(
        vendor=override.vendor or base.vendor,
        role=override.role or base.role,
        location=override.location or base.location,
        safeguard=override.safeguard,
    )


def _third_country(location: str) -> bool:
    return bool(location) and location != "not documented" and not is_eu_location(location)


def safeguard(plan: m.Plan, rec: m.Recipient) -> str:
    if not _third_country(rec.location):
        return ""
    return rec.safeguard or plan.privacy.transfer_safeguard or "NOT DOCUMENTED"


def field_rows(plan: m.Plan) -> list[FieldRow]:
    """Every field each destination is sent, per consent state (what minimise + the tags do)."""
    rows: list[FieldRow] = []
    anonymize = plan.consent.analytics_without_consent == "anonymize"
    for dest in plan.destinations.values():

        def add(state: str, field: str, form: str, dest: m.Destination = dest) -> None:
            rows.append(FieldRow(dest.name, state, field, form))

        for name in KIND_IDS[dest.kind]:
            add(GRANTED, name, "as sent")
        for pii in dest.pii:
            raw = dest.hashing == "google" and pii in GOOGLE_RAW
            add(GRANTED, pii, f"normalised ({dest.hashing} rules), {'raw' if raw else 'SHA-256'}")
        if dest.ip != "none":
            add(GRANTED, "ip", "full" if dest.ip == "full" else "anonymised (/24, /48, 6to4 /40)")
        if dest.user_agent:
            add(GRANTED, "user_agent", "as sent")
        for click in CLICK_IDS.get(dest.kind, ()):
            add(GRANTED, click, "as sent")
        urls = KIND_URLS.get(dest.kind)
        if urls:
            add(GRANTED, urls, "PII query parameters removed")
        add(GRANTED, "event params", "as declared in the plan")
        if anonymize and set(dest.purposes) == {"analytics"}:
            if urls:
                add(ANONYMISED, urls, "scheme, host and path only")
            add(ANONYMISED, "event params", "as declared in the plan")
            if dest.kind == "ga4":
                add(ANONYMISED, "client_id", "random per event (joins nothing)")
        else:
            add(DENIED, "(nothing)", "not sent")
    return rows


def stored_rows(plan: m.Plan) -> list[tuple[str, str, str]]:
    """(store, what it holds, retention) for every store the sidecar keeps."""
    full_ip = [d.name for d in plan.destinations.values() if d.ip == "full"]
    agents = [d.name for d in plan.destinations.values() if d.user_agent]
    google_raw = [
        f"{d.name} ({', '.join(f for f in d.pii if f in GOOGLE_RAW)})"
        for d in plan.destinations.values()
        if d.hashing == "google" and any(f in GOOGLE_RAW for f in d.pii)
    ]
    days = plan.retention_days
    ctx_days = min(plan.privacy.contexts_retention_days, days)
    outbox = (
        "the minimised event: identifiers (client_id, session_id, user_id) when a destination "
        "with consent is allowed; page URLs with PII query parameters removed (path only when "
        "every allowed destination is anonymised); click ids for allowed kinds; the anonymised "
        "IP; per destination its user data normalised and SHA-256-hashed by its rules"
        + (f"; raw, as Google takes them: {'; '.join(google_raw)}" if google_raw else "")
        + (f", the full IP for {', '.join(full_ip)}" if full_ip else "")
        + (f", the user agent for {', '.join(agents)}" if agents else "")
        + "; the consent decision (purposes, sources, region)"
    )
    return [
        ("outbox (events)", outbox, f"{days} days"),
        ("ledger", "order ids, event ids and delivery outcomes per destination", f"{days} days"),
        (
            "dead letters",
            "the outbox entry of an event that could not be delivered",
            f"{days} days",
        ),
        (
            "contexts",
            "checkout identity contexts (cart token hash -> client_id, click ids, user agent)",
            f"{ctx_days} days",
        ),
        ("dedupe keys", "event ids and webhook delivery ids", f"{plan.dedupe_window_hours} hours"),
    ]


def measures(plan: m.Plan) -> list[str]:
    hashing = sorted({f"{d.name}: {d.hashing} rules" for d in plan.destinations.values() if d.pii})
    ips = sorted(f"{d.name}: {d.ip}" for d in plan.destinations.values())
    out = [
        "Consent enforced server-side per purpose, failing closed (sidecar decide, each sGTM tag)"
        + (f"; regional rules: {', '.join(plan.consent.regions)}" if plan.consent.regions else ""),
        "PII normalised and SHA-256-hashed per destination before storage: " + "; ".join(hashing),
        "IP per destination (anonymised = IPv4 /24, IPv6 /48, 6to4 /40): " + "; ".join(ips),
        "Page and referrer URLs: PII query parameters removed; query and fragment removed for "
        "anonymised destinations",
        "Encryption in transit (TLS) and at rest (Google Cloud default encryption for Firestore, "
        "BigQuery, Cloud Storage, Secret Manager)",
        "Access control: dedicated service accounts with least privilege; secrets only in "
        "Secret Manager; signed requests (HMAC-SHA256) between sidecar and sGTM",
        "Access review: Data Access audit logs for Firestore, BigQuery, Secret Manager and Cloud "
        "Storage, reviewed monthly with `sgtm audit access --days 30`",
    ]
    if plan.privacy.residency == "eu":
        out.append(f"Data residency: EU ({plan.region}), enforced by `sgtm plan check`")
    return out


def record(plan: m.Plan) -> dict[str, Any]:
    recipients = []
    for dest in plan.destinations.values():
        rec = recipient(plan, dest)
        recipients.append(
            {
                "destination": dest.name,
                "kind": dest.kind,
                "vendor": rec.vendor or "not documented",
                "role": rec.role,
                "location": rec.location or "not documented",
                "purposes": list(dest.purposes),
                "personal_data": list(dest.pii),
                "third_country_transfer": _third_country(rec.location),
                "safeguard": safeguard(plan, rec),
            }
        )
    subjects = ["website visitors (browser events)"]
    if any(s.kind in ("shopify", "woocommerce", "stripe") for s in plan.sources.values()):
        subjects.append("customers (orders and refunds from the shop platforms)")
    categories = sorted({FIELD_CATEGORIES[f] for f in plan.user_data})
    categories += [
        "online identifiers (client_id, session_id, user_id, click ids, IP address, user agent)",
        "purchase and browsing behaviour (event params: "
        + ", ".join(sorted({p for e in plan.events.values() for p in e.params}))
        + ")",
    ]
    return {
        "plan": plan.name,
        "plan_version": str(plan.version),
        "controller": plan.privacy.controller or {"name": "NOT DOCUMENTED (privacy.controller)"},
        "purposes": [
            {"name": p.name, "description": p.description, "legal_basis": p.basis}
            for p in plan.purposes.values()
        ],
        "data_subjects": subjects,
        "personal_data_categories": categories,
        "recipients": recipients,
        "retention": [{"store": s, "holds": h, "retention": r} for s, h, r in stored_rows(plan)],
        "measures": measures(plan),
        "region": plan.region,
        "residency": plan.privacy.residency,
        "residency_exceptions": [
            {"what": e.what, "location": e.location, "reason": e.reason}
            for e in plan.privacy.residency_exceptions
        ],
        "fields": [r.__dict__ for r in field_rows(plan)],
    }


def mermaid(plan: m.Plan) -> str:
    lines = ["flowchart LR"]
    lines.append('  browser["Browser (snippet, CMP)"] -->|events, consent| sidecar')
    for source in plan.sources.values():
        if source.kind != "web":
            lines.append(f'  {source.name}["{source.kind} webhooks"] -->|orders| sidecar')
    lines.append(
        f'  sidecar["sidecar ({plan.region})<br/>consent, minimise, hash"] -->|signed batches| sgtm'
    )
    lines.append(
        f'  sidecar --- store[("outbox, ledger, contexts<br/>{plan.retention_days} days")]'
    )
    lines.append(f'  sgtm["server-side GTM ({plan.region})"]')
    for dest in plan.destinations.values():
        rec = recipient(plan, dest)
        label = "/".join(dest.purposes)
        where = rec.location or "?"
        lines.append(
            f'  sgtm -->|{label}| {dest.name}["{dest.name}: {KIND_TITLES[dest.kind]}<br/>{where}"]'
        )
    return "\n".join(lines)


def field_table(plan: m.Plan) -> str:
    """Markdown: every field per destination and consent state (docs/privacy.md embeds it)."""
    lines = ["| Destination | Consent | Field | Sent as |", "|---|---|---|---|"]
    for r in field_rows(plan):
        lines.append(f"| `{r.destination}` | {r.state} | {r.field} | {r.form} |")
    lines.append("")
    lines.append("| Store | Holds | Kept |")
    lines.append("|---|---|---|")
    for store, holds, kept in stored_rows(plan):
        lines.append(f"| {store} | {holds} | {kept} |")
    return "\n".join(lines) + "\n"


def markdown(plan: m.Plan) -> str:
    rec = record(plan)
    out = [f"# Record of processing activities: {plan.name} {plan.version}", ""]
    out.append(
        "GDPR Art. 30(1). Generated by `sgtm plan ropa` from the tracking plan; do not edit."
    )
    out += ["", "## Controller", ""]
    out += [f"- **{k}**: {v}" for k, v in rec["controller"].items()]
    out += ["", "## Purposes", "", "| Purpose | Legal basis | Description |", "|---|---|---|"]
    out += [f"| {p['name']} | {p['legal_basis']} | {p['description']} |" for p in rec["purposes"]]
    out += ["", "## Categories of data subjects", ""]
    out += [f"- {s}" for s in rec["data_subjects"]]
    out += ["", "## Categories of personal data", ""]
    out += [f"- {c}" for c in rec["personal_data_categories"]]
    out += ["", "## Recipients", ""]
    out += ["| Destination | Vendor | Role | Location | Purposes | Personal data |"]
    out += ["|---|---|---|---|---|---|"]
    for r in rec["recipients"]:
        out.append(
            f"| `{r['destination']}` | {r['vendor']} | {r['role']} | {r['location']} | "
            f"{', '.join(r['purposes'])} | {', '.join(r['personal_data']) or '-'} |"
        )
    out += ["", "## Transfers to third countries", ""]
    transfers = [r for r in rec["recipients"] if r["third_country_transfer"]]
    if transfers:
        out += ["| Destination | Vendor | Location | Safeguard |", "|---|---|---|---|"]
        out += [
            f"| `{r['destination']}` | {r['vendor']} | {r['location']} | {r['safeguard']} |"
            for r in transfers
        ]
    else:
        out.append("None.")
    if rec["residency_exceptions"]:
        out += ["", "Residency exceptions:", ""]
        out += [
            f"- {e['what']} in {e['location']}: {e['reason']}" for e in rec["residency_exceptions"]
        ]
    out += ["", "## Retention", "", "| Store | Holds | Kept |", "|---|---|---|"]
    out += [f"| {r['store']} | {r['holds']} | {r['retention']} |" for r in rec["retention"]]
    out += ["", "## Technical and organisational measures", ""]
    out += [f"- {x}" for x in rec["measures"]]
    out += ["", "## Data flow", "", "```mermaid", mermaid(plan), "```"]
    out += ["", "## Fields per destination and consent state", "", field_table(plan)]
    return "\n".join(out)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def files(plan: m.Plan) -> dict[str, str]:
    rec = record(plan)
    recipients = _csv(
        [
            "destination",
            "kind",
            "vendor",
            "role",
            "location",
            "purposes",
            "personal_data",
            "third_country_transfer",
            "safeguard",
        ],
        [
            [
                r["destination"],
                r["kind"],
                r["vendor"],
                r["role"],
                r["location"],
                " ".join(r["purposes"]),
                " ".join(r["personal_data"]),
                "yes" if r["third_country_transfer"] else "no",
                r["safeguard"],
            ]
            for r in rec["recipients"]
        ],
    )
    fields = _csv(
        ["destination", "consent", "field", "sent_as"],
        [[r.destination, r.state, r.field, r.form] for r in field_rows(plan)],
    )
    return {
        "ropa.md": markdown(plan),
        "ropa.json": json.dumps(rec, indent=2, ensure_ascii=False) + "\n",
        "recipients.csv": recipients,
        "fields.csv": fields,
    }
