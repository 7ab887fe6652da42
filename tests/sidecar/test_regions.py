"""Regional consent: the region's rule (trusted headers, else the plan's default) sets the
defaults, which sources may grant, GPC and Meta LDU; a claimed region only denies more."""

from __future__ import annotations

import itertools

from formats.plan import load_plan
from sidecar.api.origin import browser_origin
from sidecar.decision.consent import QUEUED, RequestOrigin, decide
from sidecar.minimisation.event import minimise
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope

PLAN = load_plan(EXAMPLE_PLAN)
GRANTED = {"analytics": True, "ads": True, "functional": True}


def _decide(consent, origin=None, **context):
    ev = envelope(consent=consent, client_id=None)
    ev.pop("client_id", None)  # no rollout split: every allowed destination is queued
    ev["context"].update(context)
    return ev, decide(ev, PLAN, "web", 1.0, origin)


def test_no_trusted_region_means_the_default_region_and_it_is_recorded() -> None:
    _, d = _decide({})
    assert d.purposes["ads"].granted is False
    assert d.purposes["ads"].source == "region:eea"
    assert d.audit()["region"] == {
        "rule": "eea",
        "source": "default",
        "country": None,
        "subdivision": None,
    }


def test_us_opt_out_grants_by_default_and_an_explicit_no_still_denies() -> None:
    origin = RequestOrigin("US", "USNY")
    _, d = _decide({}, origin)
    assert d.purposes["ads"].granted and d.purposes["ads"].source == "region:us"
    assert d.outcomes["meta"] == QUEUED
    assert d.audit()["region"]["rule"] == "us"
    _, d = _decide({"ads": False}, origin)
    assert (d.purposes["ads"].granted, d.purposes["ads"].source) == (False, "event")


def test_gpc_denies_ads_in_california_and_meta_gets_ldu() -> None:
    ev, d = _decide({}, RequestOrigin("US", "USCA", gpc=True))
    assert d.audit()["region"]["rule"] == "us_opt_out_states"
    assert (d.purposes["ads"].granted, d.purposes["ads"].source) == (False, "gpc")
    assert d.purposes["analytics"].granted is True
    ev, d = _decide({}, RequestOrigin("US", "USCA"))
    assert d.meta_ldu
    item = minimise(ev, d, PLAN).item
    assert item["destinations"]["meta"]["data_processing_options"] == {
        "options": ["LDU"],
        "country": 0,
        "state": 0,
    }


def test_in_the_eea_a_cmp_signal_alone_cannot_grant_but_the_event_can() -> None:
    _, d = _decide({}, RequestOrigin("DE"), gcs="G111")
    assert d.purposes["analytics"].granted is False
    _, d = _decide(GRANTED, RequestOrigin("DE"), gcs="G111")
    assert d.purposes["analytics"].granted is True


def test_quebec_is_opt_in_and_the_rest_of_canada_opt_out() -> None:
    _, d = _decide({}, RequestOrigin("CA", "CAQC"), gcs="G111")
    assert d.audit()["region"]["rule"] == "ca_quebec"
    assert (d.purposes["ads"].granted, d.purposes["ads"].source) == (False, "region:ca_quebec")
    _, d = _decide({"ads": True}, RequestOrigin("CA", "CAQC"), gcs="G111")
    assert d.purposes["ads"].granted is True
    _, d = _decide({}, RequestOrigin("CA", "CAON"))
    assert d.purposes["ads"].granted is True
    _, d = _decide({}, RequestOrigin("CA", "CAON"), gcs="G100")
    assert (d.purposes["ads"].granted, d.purposes["ads"].source) == (False, "gcs")


def test_a_claimed_region_only_ever_makes_it_stricter() -> None:
    _, d = _decide({}, RequestOrigin("US", "USNY"), region="DE")
    assert d.purposes["ads"].granted is False
    assert d.purposes["ads"].source == "claimed_region:eea"
    assert d.audit()["region"]["claimed_rule"] == "eea"
    # Claiming the US from Germany changes nothing.
    _, d = _decide({}, RequestOrigin("DE"), region="US-NY")
    assert d.purposes["ads"].granted is False and d.purposes["ads"].source == "region:eea"


def test_browser_origin_reads_the_load_balancer_headers_and_gpc() -> None:
    origin = browser_origin(
        {
            "X-Sgtm-Client-Region": "US",
            "X-Sgtm-Client-Region-Subdivision": "USCA",
            "Sec-GPC": "1",
        }
    )
    assert origin == RequestOrigin("US", "USCA", gpc=True)
    assert browser_origin({"X-Sgtm-Client-Region": "Germany"}) == RequestOrigin()
    assert browser_origin({}) == RequestOrigin()


# ---- the matrix: regions x claimed regions x purposes x signals x destinations -------------

ORIGINS = [None] + [
    RequestOrigin(c, s, gpc)
    for c, s in [
        ("DE", None),
        ("GB", None),
        ("US", "USCA"),
        ("US", "USNY"),
        ("CA", "CAQC"),
        ("CA", "CAON"),
        ("NZ", None),
        ("JP", None),
    ]
    for gpc in (False, True)
]
CLAIMS = [None, "DE", "US-CA", "CA-QC"]
STATES = [None, True, False]
GCS = [None, "G111", "G100", "G101", "X111", "G1111"]


def _oracle(purpose: str, consent: dict, gcs: str | None, rule, gpc: bool) -> bool:
    """Independent statement of the rules: False whenever anything denies."""
    claim = consent.get(purpose)
    if claim is False:
        return False
    signal = None
    if gcs is not None and purpose in ("ads", "analytics"):
        good = len(gcs) == 4 and gcs.startswith("G1") and set(gcs[2:]) <= {"0", "1", "-"}
        signal = good and gcs[2 if purpose == "ads" else 3] == "1"
        if not signal:
            return False
    elif gcs is not None and not (len(gcs) == 4 and gcs.startswith("G1")):
        return False  # a malformed signal denies every purpose
    if purpose == "ads" and gpc and rule.gpc_denies_ads:
        return False
    default = rule.defaults.get(purpose)
    if default is None:
        default = False  # the example plan's missing: strict
    if claim is None and signal is None:
        return default
    if default:
        return True
    return (claim is True and "event" in rule.may_grant) or (
        signal is True and "gcs" in rule.may_grant
    )


def test_no_destination_ever_receives_what_its_region_and_signals_do_not_allow() -> None:
    decisions = leaks = 0
    for origin, claimed, gcs in itertools.product(ORIGINS, CLAIMS, GCS):
        for states in itertools.product(STATES, repeat=3):
            consent = {
                p: s
                for p, s in zip(("analytics", "ads", "functional"), states, strict=True)
                if s is not None
            }
            context = {"gcs": gcs} if gcs else {}
            if claimed:
                context["region"] = claimed
            _, d = _decide(consent, origin, **context)
            policy = PLAN.consent
            rule = (
                policy.rule_for(origin.country, origin.subdivision)
                if origin and origin.country
                else policy.regions[policy.default_region]
            )
            gpc = bool(origin and origin.gpc)
            allowed = {}
            for purpose in PLAN.purposes:
                ok = _oracle(purpose, consent, gcs, rule, gpc)
                if claimed:
                    country, _, sub = claimed.partition("-")
                    other = policy.rule_for(country, claimed if sub else None)
                    ok = ok and _oracle(purpose, consent, gcs, other, gpc)
                allowed[purpose] = ok
                assert d.purposes[purpose].granted == ok, (origin, claimed, gcs, consent, purpose)
            for dest in PLAN.destinations.values():
                if d.outcomes.get(dest.name) == QUEUED and not all(
                    allowed[p] for p in dest.purposes
                ):
                    leaks += 1
            decisions += 1
    assert decisions == len(ORIGINS) * len(CLAIMS) * len(GCS) * 27
    assert leaks == 0
