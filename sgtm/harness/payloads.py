"""What a shop sends in a local run: a browser event in the envelope, and a paid Shopify order in
the shape of Shopify's own `orders/paid` webhook body."""

from __future__ import annotations

import time
from typing import Any


def browser_event(name: str, event_id: str, consent: dict[str, bool], **params: Any) -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "schema": 1,
        "event_name": name,
        "event_id": event_id,
        "timestamp": now_ms,
        "client_id": "1234567890.1732860000",
        "session_id": "1732860000",
        "consent": consent,
        "params": params,
        "context": {
            "page_location": "https://shop.acme-home.example/products/mug",
            "language": "es-ES",
            "fbp": "fb.1.1732860000.123",
        },
    }


def shopify_order(order_id: int, checkout_token: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())

    def money(v: str) -> dict[str, Any]:
        return {
            "shop_money": {"amount": v, "currency_code": "EUR"},
            "presentment_money": {"amount": v, "currency_code": "EUR"},
        }

    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "checkout_token": checkout_token,
        "cart_token": None,
        "created_at": now,
        "processed_at": now,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "financial_status": "paid",
        "test": False,
        "source_name": "web",
        "email": "ana.garcia@example.com",
        "phone": "+34 612 345 678",
        "browser_ip": "203.0.113.7",
        "customer_locale": "es-ES",
        "client_details": {"browser_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (demo)"},
        "note_attributes": [{"name": "ga_client_id", "value": "1234567890.1732860000"}],
        "taxes_included": True,
        "subtotal_price": "39.90",
        "total_discounts": "0.00",
        "total_tax": "6.92",
        "total_price": "44.80",
        "subtotal_price_set": money("39.90"),
        "total_tax_set": money("6.92"),
        "total_price_set": money("44.80"),
        "total_discounts_set": money("0.00"),
        "total_shipping_price_set": money("4.90"),
        "shipping_lines": [
            {
                "price": "4.90",
                "price_set": money("4.90"),
                "discounted_price": "4.90",
                "discounted_price_set": money("4.90"),
            }
        ],
        "customer": {
            "id": 7001,
            "email": "ana.garcia@example.com",
            "first_name": "Ana",
            "last_name": "García",
        },
        "billing_address": {
            "first_name": "Ana",
            "last_name": "García",
            "city": "Madrid",
            "zip": "28001",
            "country_code": "ES",
            "province_code": "M",
        },
        "line_items": [
            {
                "id": 1,
                "sku": "MUG-1",
                "product_id": 11,
                "variant_id": 111,
                "title": "Stoneware Mug",
                "variant_title": "Blue",
                "vendor": "Acme",
                "quantity": 2,
                "price": "19.95",
                "price_set": money("19.95"),
                "total_discount": "0.00",
                "total_discount_set": money("0.00"),
                "discount_allocations": [],
            }
        ],
        "refunds": [],
    }
