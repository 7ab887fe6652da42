"""GA4's consent.ad_user_data and ad_personalization, each from its own CMP signal."""

from __future__ import annotations

import pytest

from formats.plan import load_plan
from sidecar.decision.consent import decide
from sidecar.decision.consent_signals import google_ad_signals
from sidecar.minimisation.event import minimise
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope
from tests.sidecar.test_consent_signals import _tc


@pytest.mark.parametrize(
    ("ads", "context", "expected"),
    [
        (True, {}, (True, True)),
        (False, {}, (False, False)),
        # gcd letters 6 and 8: granted by default except ad_personalization (protocols.md 4.3).
        (True, {"gcd": "11t1t1t1p5"}, (True, False)),
        (True, {"gcd": "11t1t1p1t5"}, (False, True)),
        (True, {"gcd": "11t1t1l1l5"}, (False, False)),  # not set counts as denied
        (False, {"gcd": "11t1t1t1t5"}, (False, False)),  # a signal never grants on its own
        (True, {"gcd": "11!1t1t1t5"}, (False, False)),  # undecodable: fail closed
        # TCF: ad_user_data <- purposes 1 and 7, ad_personalization <- 3 and 4, vendor 755.
        (True, {"tcf": _tc({1, 7}, {755})}, (True, False)),
        (True, {"tcf": _tc({1, 3, 4}, {755})}, (False, True)),
        (True, {"tcf": _tc({1, 3, 4, 7}, {12})}, (False, False)),  # Google has no consent
        (True, {"tcf": "not-a-tc-string"}, (False, False)),
    ],
)
def test_google_ad_signals(ads, context, expected):
    signals = google_ad_signals(ads, context)
    assert (signals["ad_user_data"], signals["ad_personalization"]) == expected


def test_the_ga4_entry_carries_the_decided_signals_and_other_kinds_do_not():
    plan = load_plan(EXAMPLE_PLAN)
    ev = envelope()
    ev["context"]["gcd"] = "11t1t1t1p5"
    item = minimise(ev, decide(ev, plan, "web", 1.0), plan).item
    assert item["destinations"]["ga4"]["google_consent"] == {
        "ad_user_data": True,
        "ad_personalization": False,
    }
    assert item["destinations"]["google_ads"]["google_consent"]["ad_personalization"] is False
    assert "google_consent" not in item["destinations"]["meta"]
