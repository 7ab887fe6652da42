"""Durable delivery from the outbox to the generated sGTM client; see docs/delivery.md."""
