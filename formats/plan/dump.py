"""Write a plan model back out as the YAML mapping it came from (canonical form).

Used by the round-trip property tests and by tools that rewrite plans: load(dump(plan)) is the
same plan, defaults made explicit.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from formats.plan import model as m
from formats.plan.reconcile_section import reconcile_to_dict


def param_to_dict(param: m.Param) -> dict[str, Any]:
    out: dict[str, Any] = {"type": param.type}
    if param.required:
        out["required"] = True
    if param.description:
        out["description"] = param.description
    if param.enum:
        out["enum"] = list(param.enum)
    if param.minimum is not None:
        out["min"] = param.minimum
    if param.maximum is not None:
        out["max"] = param.maximum
    if param.pattern:
        out["pattern"] = param.pattern
    if param.max_length is not None:
        out["max_length"] = param.max_length
    return out


def to_dict(plan: m.Plan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "plan": plan.name,
        "version": str(plan.version),
    }
    if plan.description:
        out["description"] = plan.description
    out.update(currency=plan.currency, region=plan.region)
    if plan.default_country:
        out["default_country"] = plan.default_country
    out.update(retention_days=plan.retention_days, dedupe_window_hours=plan.dedupe_window_hours)
    out["consent"] = {
        "missing": plan.consent.missing,
        "analytics_without_consent": plan.consent.analytics_without_consent,
        "purposes": {
            p.name: {
                **({"description": p.description} if p.description else {}),
                "basis": p.basis,
            }
            for p in plan.purposes.values()
        },
    }
    out["user_data"] = {"fields": list(plan.user_data)}
    out["items"] = {
        "max_items": plan.max_items,
        "fields": {n: param_to_dict(p) for n, p in plan.item_fields.items()},
    }
    out["events"] = {
        e.name: {
            **({"description": e.description} if e.description else {}),
            "params": {n: param_to_dict(p) for n, p in e.params.items()},
        }
        for e in plan.events.values()
    }
    # The loader derives `hashing` from the kind and settings; the other empty optional fields
    # are its defaults.
    optional = ("description", "max_rate_per_s", "pixel_events", "recipient")
    out["destinations"] = {
        d.name: {
            k: v
            for k, v in d.to_dict().items()
            if k != "hashing" and not (k in optional and v in ("", None, [], {}))
        }
        for d in plan.destinations.values()
    }
    out["sources"] = {
        s.name: {
            "kind": s.kind,
            **{role: ref.env for role, ref in s.secrets.items()},
            **s.settings,
        }
        for s in plan.sources.values()
    }
    delivery: dict[str, Any] = {
        "client_path": plan.delivery.client_path,
        "batch_size": plan.delivery.batch_size,
    }
    if plan.delivery.keys is not None:
        delivery["keys"] = plan.delivery.keys.env
    out["delivery"] = delivery
    reconcile = reconcile_to_dict(plan.reconcile)
    if reconcile is not None:
        out["reconcile"] = reconcile
    privacy = plan.privacy
    if privacy != m.PrivacyPolicy():
        section: dict[str, Any] = {"residency": privacy.residency}
        params = {
            key: list(names)
            for key, names in (("deny", privacy.url_deny_params), ("keep", privacy.url_keep_params))
            if names
        }
        if params:
            section["url_params"] = params
        if privacy.firestore_location:
            section["firestore_location"] = privacy.firestore_location
        if privacy.residency_exceptions:
            section["residency_exceptions"] = [
                {"what": e.what, "location": e.location, "reason": e.reason}
                for e in privacy.residency_exceptions
            ]
        out["privacy"] = section
    return out


def dump_yaml(plan: m.Plan) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep plan order
    buf = io.StringIO()
    yaml.dump(to_dict(plan), buf)
    return buf.getvalue()
