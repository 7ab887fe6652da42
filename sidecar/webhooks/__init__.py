"""Order webhooks (Shopify, WooCommerce, Stripe) mapped to canonical envelopes, and the
browser identity join (``POST /v1/context``). See docs/webhooks.md."""
