"""`sgtm plan diff`: every breaking and compatible category, the version rule, exit codes."""

from __future__ import annotations

import json

import pytest

from formats.plan import load_plan_text
from formats.plan.diff import BREAKING, COMPATIBLE, diff_plans
from sgtm.cli import main

PLAN = """\
plan: tiny
version: "1.0.0"
currency: EUR
region: europe-west1
retention_days: 395
consent:
  missing: strict
  analytics_without_consent: drop
  purposes:
    loyalty: {description: Loyalty programme}
user_data:
  fields: [email, phone]
items:
  max_items: 200
  fields:
    brand: {type: string, max_length: 50}
events:
  purchase:
    params:
      transaction_id: {type: string, required: true, max_length: 64}
      value: {type: number, required: true, min: 0}
      currency: {type: currency, required: true}
      quantity: {type: integer}
      coupon: {type: string}
      method: {type: string, enum: [card, paypal]}
      note: {type: string, pattern: '^[a-z]+$'}
  view_item:
    params:
      value: {type: number}
destinations:
  meta:
    kind: meta_capi
    purposes: [ads, analytics]
    events: {purchase: Purchase, view_item: ViewContent}
    pii: [email]
    ip: anonymized
    settings: {pixel_id: "1234567890"}
    credentials: {access_token: META_ACCESS_TOKEN}
  ga4:
    kind: ga4
    purposes: [analytics]
    events: [purchase]
    settings: {measurement_id: G-ABCD1234}
    credentials: {api_secret: GA4_API_SECRET}
sources:
  shopify:
    secret: SHOPIFY_WEBHOOK_SECRET
"""

CASES = [
    # (id, old text, new text, kind, category)
    (
        "event removed",
        [
            ("  view_item:\n    params:\n      value: {type: number}\n", ""),
            (", view_item: ViewContent", ""),
        ],
        None,
        BREAKING,
        "event_removed",
    ),
    (
        "event added",
        "destinations:\n",
        "  refund:\n    params:\n      transaction_id: {type: string, required: true}\ndestinations:\n",
        COMPATIBLE,
        "event_added",
    ),
    ("param removed", "      coupon: {type: string}\n", "", BREAKING, "param_removed"),
    (
        "param added",
        "      coupon: {type: string}\n",
        "      coupon: {type: string}\n      tax: {type: number}\n",
        COMPATIBLE,
        "param_added",
    ),
    (
        "required param added",
        "      coupon: {type: string}\n",
        "      coupon: {type: string}\n      tax: {type: number, required: true}\n",
        BREAKING,
        "required_param_added",
    ),
    (
        "type narrowed",
        "coupon: {type: string}",
        "coupon: {type: currency}",
        BREAKING,
        "param_type_narrowed",
    ),
    (
        "currency param added",
        "currency: {type: currency, required: true}\n      quantity",
        "currency: {type: currency, required: true}\n      code: {type: currency}\n      quantity",
        COMPATIBLE,
        "param_added",
    ),
    (
        "type changed",
        "coupon: {type: string}",
        "coupon: {type: boolean}",
        BREAKING,
        "param_type_narrowed",
    ),
    (
        "type widened",
        "quantity: {type: integer}",
        "quantity: {type: number}",
        COMPATIBLE,
        "param_type_widened",
    ),
    (
        "optional to required",
        "coupon: {type: string}",
        "coupon: {type: string, required: true}",
        BREAKING,
        "param_made_required",
    ),
    (
        "required to optional",
        "value: {type: number, required: true, min: 0}",
        "value: {type: number, min: 0}",
        COMPATIBLE,
        "param_made_optional",
    ),
    ("enum value removed", "enum: [card, paypal]", "enum: [card]", BREAKING, "enum_value_removed"),
    (
        "enum value added",
        "enum: [card, paypal]",
        "enum: [card, paypal, bizum]",
        COMPATIBLE,
        "enum_value_added",
    ),
    (
        "enum added",
        "coupon: {type: string}",
        "coupon: {type: string, enum: [A, B]}",
        BREAKING,
        "enum_added",
    ),
    (
        "enum removed",
        "method: {type: string, enum: [card, paypal]}",
        "method: {type: string}",
        COMPATIBLE,
        "enum_removed",
    ),
    ("min raised", "min: 0}", "min: 1}", BREAKING, "constraint_narrowed"),
    ("max_length lowered", "max_length: 64}", "max_length: 32}", BREAKING, "constraint_narrowed"),
    ("max_length raised", "max_length: 64}", "max_length: 100}", COMPATIBLE, "constraint_widened"),
    (
        "bound added",
        "quantity: {type: integer}",
        "quantity: {type: integer, max: 10}",
        BREAKING,
        "constraint_added",
    ),
    (
        "bound removed",
        "value: {type: number, required: true, min: 0}",
        "value: {type: number, required: true}",
        COMPATIBLE,
        "constraint_removed",
    ),
    (
        "pattern changed",
        "pattern: '^[a-z]+$'",
        "pattern: '^[a-z]{1,5}$'",
        BREAKING,
        "pattern_changed",
    ),
    (
        "item field removed",
        "    brand: {type: string, max_length: 50}\n",
        "",
        BREAKING,
        "param_removed",
    ),
    ("max items lowered", "max_items: 200", "max_items: 50", BREAKING, "limit_narrowed"),
    ("max items raised", "max_items: 200", "max_items: 500", COMPATIBLE, "limit_widened"),
    (
        "pii collected no more",
        "fields: [email, phone]",
        "fields: [email]",
        BREAKING,
        "pii_field_removed",
    ),
    (
        "pii collected",
        "fields: [email, phone]",
        "fields: [email, phone, city]",
        COMPATIBLE,
        "pii_field_added",
    ),
    (
        "purpose removed",
        "    loyalty: {description: Loyalty programme}\n",
        "",
        BREAKING,
        "purpose_removed",
    ),
    (
        "purpose added",
        "    loyalty: {description: Loyalty programme}\n",
        "    loyalty: {description: Loyalty programme}\n    surveys: {}\n",
        COMPATIBLE,
        "purpose_added",
    ),
    (
        "purpose basis loosened",
        "loyalty: {description: Loyalty programme}",
        "loyalty: {description: Loyalty programme, basis: legitimate_interest}",
        BREAKING,
        "privacy_loosened",
    ),
    (
        "missing policy loosened",
        "missing: strict",
        "missing: by_basis",
        BREAKING,
        "privacy_loosened",
    ),
    (
        "analytics anonymize",
        "analytics_without_consent: drop",
        "analytics_without_consent: anonymize",
        BREAKING,
        "privacy_loosened",
    ),
    (
        "destination purpose loosened",
        "purposes: [ads, analytics]",
        "purposes: [ads]",
        BREAKING,
        "privacy_loosened",
    ),
    (
        "destination purpose tightened",
        "purposes: [analytics]\n    events: [purchase]",
        "purposes: [analytics, ads]\n    events: [purchase]",
        COMPATIBLE,
        "privacy_tightened",
    ),
    (
        "destination gets more pii",
        "pii: [email]",
        "pii: [email, phone]",
        BREAKING,
        "privacy_loosened",
    ),
    ("destination gets less pii", "pii: [email]", "pii: []", COMPATIBLE, "privacy_tightened"),
    ("destination gets full ip", "ip: anonymized", "ip: full", BREAKING, "privacy_loosened"),
    ("destination gets no ip", "ip: anonymized", "ip: none", COMPATIBLE, "privacy_tightened"),
    (
        "destination gets user agent",
        "    ip: anonymized\n",
        "    ip: anonymized\n    user_agent: true\n",
        BREAKING,
        "privacy_loosened",
    ),
    (
        "destination removed",
        "  ga4:\n    kind: ga4\n    purposes: [analytics]\n    events: [purchase]\n    settings: {measurement_id: G-ABCD1234}\n    credentials: {api_secret: GA4_API_SECRET}\n",
        "",
        BREAKING,
        "destination_removed",
    ),
    (
        "destination added",
        "sources:\n",
        "  crm:\n    kind: http\n    purposes: [functional]\n    events: [purchase]\n    settings: {url: 'https://crm.example/hook'}\nsources:\n",
        COMPATIBLE,
        "destination_added",
    ),
    (
        "destination event removed",
        "events: {purchase: Purchase, view_item: ViewContent}",
        "events: {purchase: Purchase}",
        BREAKING,
        "destination_event_removed",
    ),
    (
        "destination event renamed",
        "events: {purchase: Purchase, view_item: ViewContent}",
        "events: {purchase: Purchase, view_item: ViewItem}",
        BREAKING,
        "destination_event_renamed",
    ),
    (
        "destination event added",
        "events: [purchase]",
        "events: [purchase, view_item]",
        COMPATIBLE,
        "destination_event_added",
    ),
    (
        "rollout changed",
        "    ip: anonymized\n",
        "    ip: anonymized\n    rollout: 10\n",
        COMPATIBLE,
        "destination_rollout_changed",
    ),
    (
        "settings changed",
        'pixel_id: "1234567890"',
        'pixel_id: "9876543210"',
        COMPATIBLE,
        "destination_settings_changed",
    ),
    (
        "source removed",
        "sources:\n  shopify:\n    secret: SHOPIFY_WEBHOOK_SECRET\n",
        "",
        BREAKING,
        "source_removed",
    ),
    (
        "source added",
        "    secret: SHOPIFY_WEBHOOK_SECRET\n",
        "    secret: SHOPIFY_WEBHOOK_SECRET\n  stripe:\n    secret: STRIPE_WEBHOOK_SECRET\n",
        COMPATIBLE,
        "source_added",
    ),
    (
        "retention changed",
        "retention_days: 395",
        "retention_days: 180",
        COMPATIBLE,
        "retention_changed",
    ),
]


def _plans(old, new, new_version: str):
    edits = old if new is None else [(old, new)]
    changed = PLAN
    for before, after in edits:
        assert before in changed, before
        changed = changed.replace(before, after, 1)
    changed = changed.replace('version: "1.0.0"', f'version: "{new_version}"')
    return load_plan_text(PLAN, "old.yaml"), load_plan_text(changed, "new.yaml")


@pytest.mark.parametrize(
    ("name", "old", "new", "kind", "category"), CASES, ids=[c[0] for c in CASES]
)
def test_change_is_classified(name, old, new, kind, category):
    before, after = _plans(old, new, "2.0.0")
    report = diff_plans(before, after)
    matching = [c for c in report.changes if c.category == category]
    assert matching, f"{category} not found in {[str(c) for c in report.changes]}"
    assert all(c.kind == kind for c in matching)
    # Every change in these single-edit cases has the expected kind.
    assert {c.kind for c in report.changes} == {kind}
    assert report.errors == []


def test_no_change_is_compatible_and_silent():
    before, after = _plans("plan: tiny", "plan: tiny", "1.0.0")
    report = diff_plans(before, after)
    assert report.changes == [] and report.errors == [] and report.warnings == []


def test_breaking_change_without_major_bump_is_an_error():
    before, after = _plans("enum: [card, paypal]", "enum: [card]", "1.1.0")
    report = diff_plans(before, after)
    assert report.errors == [
        "breaking change(s) (enum_value_removed) without a major version bump: "
        "1.0.0 -> 1.1.0; release it as 2.0.0"
    ]


def test_version_going_backwards_is_an_error():
    before, after = _plans("plan: tiny", "plan: tiny", "0.9.0")
    assert "version went backwards: 1.0.0 -> 0.9.0" in diff_plans(before, after).errors


def test_changed_plan_with_same_version_warns():
    before, after = _plans("max_items: 200", "max_items: 500", "1.0.0")
    assert diff_plans(before, after).warnings == ["the plan changed but its version is still 1.0.0"]


def _write(tmp_path, old, new, version):
    a, b = tmp_path / "old.yaml", tmp_path / "new.yaml"
    a.write_text(PLAN)
    b.write_text(PLAN.replace(old, new, 1).replace('version: "1.0.0"', f'version: "{version}"'))
    return str(a), str(b)


def test_cli_exit_codes(tmp_path, capsys):
    old, new = _write(tmp_path, "enum: [card, paypal]", "enum: [card, paypal, bizum]", "1.1.0")
    assert main(["plan", "diff", old, new]) == 0
    assert "compatible" in capsys.readouterr().out
    old, new = _write(tmp_path, "enum: [card, paypal]", "enum: [card]", "2.0.0")
    assert main(["plan", "diff", old, new]) == 1
    out = capsys.readouterr().out
    assert "breaking   enum_value_removed" in out and "BREAKING" in out


def test_cli_json(tmp_path, capsys):
    old, new = _write(tmp_path, "enum: [card, paypal]", "enum: [card]", "1.0.1")
    assert main(["plan", "diff", old, new, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["breaking"] is True
    assert report["changes"][0]["category"] == "enum_value_removed"
    assert report["errors"]


def test_cli_reports_an_invalid_plan(tmp_path, capsys):
    old, new = _write(tmp_path, "currency: EUR", "currency: euro", "1.0.0")
    assert main(["plan", "diff", old, new]) == 1
    assert "not an ISO 4217 code" in capsys.readouterr().err


def test_a_renamed_param_is_one_breaking_rename_naming_both():
    before, after = _plans(
        "      coupon: {type: string}\n", "      promo_code: {type: string}\n", "2.0.0"
    )
    report = diff_plans(before, after)
    assert [(c.kind, c.category, c.path) for c in report.changes] == [
        (BREAKING, "param_renamed", "events.purchase.params.coupon")
    ]
    assert "renamed to 'promo_code'" in report.changes[0].detail


def test_a_rename_that_also_changes_the_param_reports_both():
    before, after = _plans(
        "      coupon: {type: string}\n",
        "      promo_code: {type: string, required: true}\n",
        "2.0.0",
    )
    categories = {c.category: c.path for c in diff_plans(before, after).changes}
    assert categories == {
        "param_renamed": "events.purchase.params.coupon",
        "param_made_required": "events.purchase.params.promo_code",
    }


def test_a_different_type_at_the_same_position_is_a_removal_and_an_addition():
    before, after = _plans(
        "      coupon: {type: string}\n", "      points: {type: integer}\n", "2.0.0"
    )
    categories = sorted(c.category for c in diff_plans(before, after).changes)
    assert categories == ["param_added", "param_removed"]
