"""A small plan for the reconciliation tests: two destinations, a browser and two order sources."""

from __future__ import annotations

PLAN = """\
plan: recon-test
version: "1.0.0"
currency: EUR
region: europe-west1
retention_days: 30
consent:
  missing: strict
  analytics_without_consent: anonymize
events:
  purchase:
    params:
      transaction_id: {type: string, required: true}
      currency: {type: currency, required: true}
      value: {type: number, required: true, min: 0}
      items: {type: items, required: true, min: 1}
user_data:
  fields: [email]
destinations:
  ga4:
    kind: ga4
    purposes: [analytics]
    events: [purchase]
    settings: {measurement_id: G-TEST12345}
    credentials: {api_secret: GA4_API_SECRET}
  meta:
    kind: meta_capi
    purposes: [ads]
    events: {purchase: Purchase}
    pii: [email]
    settings: {pixel_id: "123456789012345"}
    credentials: {access_token: META_ACCESS_TOKEN}
sources:
  web: {kind: web, origins: [https://shop.example], token_keys: WEB_TOKEN_KEYS, signing_keys: WEB_SIGNING_KEYS}
  shopify: {secret: SHOPIFY_WEBHOOK_SECRET}
  stripe: {secret: STRIPE_WEBHOOK_SECRET}
  woocommerce: {secret: WOOCOMMERCE_WEBHOOK_SECRET}
reconcile:
  timezone: Europe/Madrid
  band: {target_pct: 3, tolerance_pct: 10}
  latency_sla_minutes: 60
"""


def plan_text(extra: str = "") -> str:
    return PLAN + extra
