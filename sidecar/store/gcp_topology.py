"""The Google Cloud backend's Pub/Sub and Firestore names and limits, defined once.

Terraform (terraform/modules/sidecar) creates this topology in production and passes the
names to the service; `GcpStore.ensure_topology` creates the same one for local runs and the
emulators. tests/store/test_gcp_topology.py holds store/gcp.py, the Terraform module and
docs/delivery.md to these values (they had drifted: "-dead" and 100 deliveries here,
"-dead-letter" and 10 in Terraform).
"""

from __future__ import annotations

# Terraform's default name_prefix; every resource name starts with it.
NAME_PREFIX = "sgtm"
TOPIC_SUFFIX = "-events"
SUBSCRIPTION_SUFFIX = "-delivery"
DEAD_LETTER_SUFFIX = "-dead-letter"

DEFAULT_TOPIC = NAME_PREFIX + TOPIC_SUFFIX
DEFAULT_SUBSCRIPTION = NAME_PREFIX + SUBSCRIPTION_SUFFIX
DEFAULT_DATABASE = "(default)"

# The subscription: Pub/Sub's own retry policy and dead-letter topic are the backstop behind
# the per-destination policy, which lives in Firestore and decides.
ACK_DEADLINE_S = 60
MIN_BACKOFF_S = 10
MAX_BACKOFF_S = 600
MAX_DELIVERY_ATTEMPTS = 10
MAX_DELIVERY_ATTEMPTS_RANGE = (5, 100)  # what Pub/Sub accepts
MAX_ACK_EXTENSION_S = 600  # Pub/Sub's limit on modify_ack_deadline

# Every Firestore collection the store writes (each one has a TTL policy on expire_at).
COLLECTIONS = ("events", "dead_letters", "contexts", "idempotency", "quarantine")


def dead_letter_topic_for(topic: str) -> str:
    """``sgtm-events`` -> ``sgtm-dead-letter``, as Terraform names it from the same prefix."""
    return topic.removesuffix(TOPIC_SUFFIX) + DEAD_LETTER_SUFFIX
