"""The server container export (``container.json``) built from the plan and the templates.

Shape and spelling follow real server exports (gtm-container.md §0-§1): the export wrapper,
UPPER_SNAKE enums, Parameter-typed fields, string ids, accountId/containerId on every entity.
Ids are derived from what an entity is (``trigger:purchase``), not from a counter, so adding
one event to the plan adds one trigger and a few references instead of renumbering everything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from formats.plan import model as m
from formats.tpl import template_data
from generator.render import fields as f
from generator.render.templates import METADATA_KEY, TemplateFile, kind_gets_pii

# The placeholders Google's own distributed import files use; the importer remaps them.
ACCOUNT_ID = "1234567890"
CONTAINER_ID = "11111111"
PUBLIC_ID = "GTM-XXXXXXX"
FINGERPRINT = "0000000000000"
# Exports carry an export time; a fixed one keeps the output byte-identical run to run.
EXPORT_TIME = "2000-01-01 00:00:00"
CLIENT_NAME = "sgtm-companion"
CLIENT_PRIORITY = 10
CONSENT_VARIABLE = "sgtm - consent"
DESTINATIONS_VARIABLE = "sgtm - destinations"
FOLDERS = ("client", "destinations", "variables")
BUILT_IN_VARIABLES = (("EVENT_NAME", "Event Name"), ("CLIENT_NAME", "Client Name"))
FEATURES = {
    "supportUserPermissions": True,
    "supportEnvironments": True,
    "supportWorkspaces": True,
    "supportGtagConfigs": False,
    "supportBuiltInVariables": True,
    "supportClients": True,
    "supportFolders": True,
    "supportTags": True,
    "supportTemplates": True,
    "supportTriggers": True,
    "supportVariables": True,
    "supportVersions": True,
    "supportZones": True,
    "supportTransformations": True,
}
# Which template field each credential role fills.
CREDENTIAL_FIELDS = {
    "api_secret": "apiSecret",
    "access_token": "accessToken",
    "developer_token": "developerToken",
    "bearer_token": "bearerToken",
}


def stable_id(kind: str, name: str) -> str:
    """A numeric id string from the entity's identity (9 digits, never a built-in trigger id)."""
    digest = hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()
    return str(int(digest[:12], 16) % 900_000_000 + 100_000_000)


@dataclass(frozen=True)
class ContainerOptions:
    key_ids: tuple[str, ...]


def _base() -> dict[str, str]:
    return {"accountId": ACCOUNT_ID, "containerId": CONTAINER_ID}


def template_type(kind: str) -> str:
    return f"cvt_{CONTAINER_ID}_{stable_id('template', kind)}"


def folder_id(name: str) -> str:
    return stable_id("folder", name)


def ref(variable: str) -> str:
    return "{{" + variable + "}}"


def folders(plan: m.Plan) -> list[dict[str, Any]]:
    return [
        {
            **_base(),
            "folderId": folder_id(name),
            "name": f"sgtm-companion: {name}",
            "fingerprint": FINGERPRINT,
        }
        for name in FOLDERS
    ]


def custom_templates(templates: list[TemplateFile]) -> list[dict[str, Any]]:
    return [
        {
            **_base(),
            "templateId": stable_id("template", t.kind),
            "name": t.display_name,
            "templateData": template_data(t.text),
            "fingerprint": FINGERPRINT,
        }
        for t in templates
    ]


def client(plan: m.Plan, options: ContainerOptions) -> dict[str, Any]:
    return {
        **_base(),
        "clientId": stable_id("client", CLIENT_NAME),
        "name": CLIENT_NAME,
        "type": template_type("client"),
        "parameter": [
            f.p_template("clientPath", plan.delivery.client_path),
            f.p_rows("keyIds", [{"keyId": k} for k in options.key_ids]),
            f.p_template("maxSkewSeconds", "300"),
            f.p_rows(
                "destinationPurposes",
                [
                    {"destination": d.name, "kind": d.kind, "purposes": ",".join(d.purposes)}
                    for d in plan.destinations.values()
                ],
            ),
            f.p_template("logType", "debug"),
        ],
        "priority": CLIENT_PRIORITY,
        "fingerprint": FINGERPRINT,
        "parentFolderId": folder_id("client"),
    }


def credential_refs(plan: m.Plan) -> list[str]:
    return sorted({ref.env for d in plan.destinations.values() for ref in d.credentials.values()})


def variables(plan: m.Plan) -> list[dict[str, Any]]:
    out = []
    for name, key in (
        (CONSENT_VARIABLE, "x-sgtm-consent"),
        (DESTINATIONS_VARIABLE, "x-sgtm-destinations"),
    ):
        out.append(
            {
                **_base(),
                "variableId": stable_id("variable", name),
                "name": name,
                "type": "ed",
                "parameter": [f.p_boolean("setDefaultValue", False), f.p_template("keyPath", key)],
                "fingerprint": FINGERPRINT,
                "parentFolderId": folder_id("variables"),
                "formatValue": {},
            }
        )
    for env in credential_refs(plan):
        out.append(
            {
                **_base(),
                "variableId": stable_id("variable", env),
                "name": env,
                "type": "c",
                "notes": f"Secret: fill in GTM (never commit it). The local runtime reads ${env}.",
                "parameter": [f.p_template("value", None)],
                "fingerprint": FINGERPRINT,
                "parentFolderId": folder_id("variables"),
                "formatValue": {},
            }
        )
    return out


def routed_events(plan: m.Plan) -> list[str]:
    """Plan events at least one destination receives, in plan order."""
    return [e for e in plan.events if plan.destinations_for(e)]


def triggers(plan: m.Plan) -> list[dict[str, Any]]:
    return [
        {
            **_base(),
            "triggerId": stable_id("trigger", event),
            "name": f"sgtm - {event}",
            "type": "CUSTOM_EVENT",
            "customEventFilter": [
                {
                    "type": "EQUALS",
                    "parameter": [f.p_template("arg0", "{{_event}}"), f.p_template("arg1", event)],
                }
            ],
            "filter": [
                {
                    "type": "EQUALS",
                    "parameter": [
                        f.p_template("arg0", "{{Client Name}}"),
                        f.p_template("arg1", CLIENT_NAME),
                    ],
                }
            ],
            "fingerprint": FINGERPRINT,
            "parentFolderId": folder_id("destinations"),
        }
        for event in routed_events(plan)
    ]


def kind_parameters(dest: m.Destination) -> list[dict[str, Any]]:
    s = dest.settings
    creds = {CREDENTIAL_FIELDS[role]: ref(r.env) for role, r in dest.credentials.items()}
    t = f.p_template
    if dest.kind == "ga4":
        return [
            t("measurementId", s["measurement_id"]),
            t("apiSecret", creds.get("apiSecret")),
            t("endpoint", s.get("endpoint", "eu")),
            t("mode", dest.mode),
        ]
    if dest.kind == "meta_capi":
        return [
            t("pixelId", s["pixel_id"]),
            t("apiVersion", s["api_version"]),
            t("accessToken", creds.get("accessToken")),
            t("mode", dest.mode),
            t("testEventCode", s.get("test_event_code")),
        ]
    if dest.kind == "google_ads":
        return [
            t("customerId", s["customer_id"]),
            t("loginCustomerId", s.get("login_customer_id")),
            t("developerToken", creds.get("developerToken")),
            t("apiVersion", "v26"),
        ]
    if dest.kind == "bigquery":
        return [
            t("projectId", s["project"]),
            t("datasetId", s["dataset"]),
            t("tableId", s["table"]),
        ]
    if dest.kind == "http":
        return [
            t("url", s["url"]),
            t("bearerToken", creds.get("bearerToken")),
            t("hashing", s.get("hashing", "google")),
            t("signingKeyId", s.get("signing_key_id", "")),
        ]
    raise ValueError(f"unknown destination kind {dest.kind!r}")


def tag(plan: m.Plan, dest: m.Destination) -> dict[str, Any]:
    t = f.p_template
    parameters = [
        t("destinationName", dest.name),
        t("purposes", ",".join(dest.purposes)),
        f.p_rows("eventMap", [{"event": e, "name": n} for e, n in dest.events.items()]),
        *kind_parameters(dest),
        t("consentState", ref(CONSENT_VARIABLE)),
        t("destinations", ref(DESTINATIONS_VARIABLE)),
        *(
            [t("piiFields", ",".join(dest.pii)), t("defaultCountry", plan.default_country)]
            if kind_gets_pii(plan, dest.kind)
            else []
        ),
        t("ipPolicy", dest.ip),
        f.p_boolean("sendUserAgent", dest.user_agent),
        t("logType", "debug"),
    ]
    return {
        **_base(),
        "tagId": stable_id("tag", dest.name),
        "name": f"sgtm - {dest.name} ({dest.kind})",
        "type": template_type(dest.kind),
        **({"notes": dest.description} if dest.description else {}),
        "parameter": parameters,
        "fingerprint": FINGERPRINT,
        "firingTriggerId": [
            stable_id("trigger", e) for e in routed_events(plan) if e in dest.events
        ],
        "parentFolderId": folder_id("destinations"),
        "tagFiringOption": "ONCE_PER_EVENT",
        "monitoringMetadata": {
            "type": "MAP",
            "map": [t(METADATA_KEY, dest.name)],
        },
        "consentSettings": {"consentStatus": "NOT_SET"},
    }


def container_export(
    plan: m.Plan, templates: list[TemplateFile], options: ContainerOptions
) -> dict[str, Any]:
    path = f"accounts/{ACCOUNT_ID}/containers/{CONTAINER_ID}"
    version: dict[str, Any] = {
        "path": f"{path}/versions/0",
        **_base(),
        "containerVersionId": "0",
        # `sgtm push --publish` names the published version after the plan version it finds
        # here (ops/export.py reads description, name and container notes).
        "description": f"{plan.name}: sgtm-companion plan version {plan.version}",
        "container": {
            "path": path,
            **_base(),
            "name": plan.name,
            "publicId": PUBLIC_ID,
            "usageContext": ["SERVER"],
            "fingerprint": FINGERPRINT,
            "tagManagerUrl": f"https://tagmanager.google.com/#/container/{path}/workspaces?apiLink=container",
            "features": FEATURES,
            "tagIds": [PUBLIC_ID],
        },
        "tag": [tag(plan, d) for d in plan.destinations.values()],
        "trigger": triggers(plan),
        "variable": variables(plan),
        "folder": folders(plan),
        "builtInVariable": [{**_base(), "type": t, "name": n} for t, n in BUILT_IN_VARIABLES],
        "fingerprint": FINGERPRINT,
        "tagManagerUrl": f"https://tagmanager.google.com/#/versions/{path}/versions/0?apiLink=version",
        "customTemplate": custom_templates(templates),
        "client": [client(plan, options)],
    }
    return {"exportFormatVersion": 2, "exportTime": EXPORT_TIME, "containerVersion": version}


def dumps(export: dict[str, Any]) -> str:
    return json.dumps(export, indent=2, ensure_ascii=False) + "\n"
