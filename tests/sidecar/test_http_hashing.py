"""An http destination's user data follows its own `hashing` setting, in the sidecar too."""

from __future__ import annotations

from formats.plan import load_plan_text
from sidecar.decision.consent import decide
from sidecar.minimisation.event import minimise
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope

EXAMPLE = EXAMPLE_PLAN.read_text(encoding="utf-8")
URL = "      url: https://crm.acme-home.example/hooks/sgtm\n"
# sha256("ana@example.com"): Meta's and Google's rules agree on this address.
HASH = "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11"


def _crm_user_data(hashing: str | None) -> dict:
    text = EXAMPLE if hashing is None else EXAMPLE.replace(URL, URL + f"      hashing: {hashing}\n")
    plan = load_plan_text(text, "plan.yaml")
    ev = envelope(user_data={"email": "Ana@Example.com", "external_id": "Cust 42"})
    return minimise(ev, decide(ev, plan, "web", 1.0), plan).item["destinations"]["crm"]["user_data"]


def test_meta_hashing_gives_meta_keys():
    user_data = _crm_user_data("meta")
    assert set(user_data) == {"em", "external_id"}  # was {} before: Google keys were computed
    assert user_data["em"] == HASH


def test_google_hashing_is_the_default():
    assert _crm_user_data(None) == _crm_user_data("google")
    assert _crm_user_data(None) == {"sha256_email_address": HASH}
