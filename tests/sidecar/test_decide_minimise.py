"""The consent re-check, the minimised forwarded event and the stripping rule, as units."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.contract import envelope_schema
from formats.plan import load_plan, load_plan_text
from sidecar.decision.consent import decide
from sidecar.decision.rollout import in_rollout
from sidecar.decision.validation import EnvelopeValidator
from sidecar.minimisation.event import minimise
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import envelope

_VALIDATOR = EnvelopeValidator(envelope_schema(load_plan(EXAMPLE_PLAN)))
IAB_SAMPLE = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"  # purposes {1,2,3} consented


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLE_PLAN)


def _client_in(dest: str, percent: int, inside: bool) -> str:
    for i in range(1000):
        cid = f"{i}.1732860000"
        if in_rollout(cid, dest, percent) == inside:
            return cid
    raise AssertionError("no client id found")


def test_missing_purposes_are_denied(plan):
    d = decide(envelope(consent={"ads": True}), plan, "web", 1.0)
    assert d.purposes["analytics"].granted is False
    assert d.purposes["analytics"].source == "region:eea"  # the default region's default
    assert d.purposes["functional"].source == "missing"
    assert d.outcomes["crm"] == "blocked_no_consent"
    assert d.outcomes["ga4"] == "anonymized"  # analytics_without_consent: anonymize


def test_gcs_overrules_a_granted_claim_and_is_recorded_as_the_source(plan):
    ev = envelope(client_id=_client_in("meta", 50, True))
    ev["context"]["gcs"] = "G101"  # ad_storage denied, analytics granted
    d = decide(ev, plan, "web", 1.0)
    assert d.purposes["ads"].granted is False and d.purposes["ads"].source == "gcs"
    assert d.purposes["analytics"].granted is True and d.purposes["analytics"].source == "event"
    assert d.outcomes["meta"] == "blocked_no_consent"
    assert d.outcomes["google_ads"] == "blocked_no_consent"
    assert d.outcomes["ga4"] == "queued"


def test_cmp_signal_never_grants_what_the_event_denies(plan):
    ev = envelope(consent={"analytics": False, "ads": False})
    ev["context"]["gcs"] = "G111"
    d = decide(ev, plan, "web", 1.0)
    assert d.purposes["ads"].granted is False and d.purposes["ads"].source == "event"


def test_tcf_string_narrows_per_purpose(plan):
    ev = envelope()
    ev["context"]["tcf"] = IAB_SAMPLE
    d = decide(ev, plan, "web", 1.0)
    assert d.signals == ("tcf",)
    assert (d.purposes["ads"].granted, d.purposes["ads"].source) == (False, "tcf")
    assert (d.purposes["analytics"].granted, d.purposes["analytics"].source) == (False, "tcf")
    assert (d.purposes["functional"].granted, d.purposes["functional"].source) == (True, "event")


def test_undecodable_signal_denies_everything_and_is_reported_without_its_text(plan):
    ev = envelope()
    ev["context"]["gcs"] = "Gsecret-ish"
    d = decide(ev, plan, "web", 1.0)
    assert not any(s.granted for s in d.purposes.values())
    assert d.signal_errors and "secret-ish" not in d.signal_errors[0]
    assert d.audit()["signal_errors"] == list(d.signal_errors)


def test_legitimate_interest_counts_when_missing_only_under_by_basis():
    text = EXAMPLE_PLAN.read_text().replace("missing: strict", "missing: by_basis")
    plan = load_plan_text(text, "p.yaml")
    d = decide(envelope(consent={}), plan, "web", 1.0)
    assert (d.purposes["functional"].granted, d.purposes["functional"].source) == (True, "basis")
    assert d.purposes["ads"].granted is False
    assert d.outcomes["crm"] == "queued"
    d = decide(envelope(consent={"functional": False}), plan, "web", 1.0)
    assert d.outcomes["crm"] == "blocked_no_consent"


def test_rollout_excludes_clients_outside_the_split(plan):
    ev = envelope(client_id=_client_in("meta", 50, False))
    d = decide(ev, plan, "web", 1.0)
    assert d.outcomes["meta"] == "not_in_rollout"
    assert d.outcomes["google_ads"] == "queued"


def test_audit_record_has_what_an_auditor_needs(plan):
    d = decide(envelope("a-1"), plan, "web", 1234.5)
    record = d.audit()
    assert record["event_id"] == "a-1"
    assert record["plan_version"] == "1.0.0"
    assert record["decided_at"] == 1234.5
    assert record["purposes"]["ads"] == {"granted": True, "source": "event"}
    assert set(record["destinations"]) == {"ga4", "meta", "google_ads", "warehouse", "crm"}


def test_minimised_event_per_destination_policies(plan):
    ev = envelope(client_id=_client_in("meta", 50, True))
    ev["context"].update({"gclid": "gclid-1", "ip": "2001:db8:85a3:8d3:1319:8a2e:370:7348"})
    d = decide(ev, plan, "web", 1.0)
    item = minimise(ev, d, plan).item
    assert "user_data" not in item
    assert "user_agent" not in item["context"]
    assert item["context"]["ip"] == "2001:db8:85a3::"
    meta = item["destinations"]["meta"]
    assert meta["ip"] == "2001:db8:85a3:8d3:1319:8a2e:370:7348"  # plan: ip full
    assert meta["user_agent"] == "Mozilla/5.0 test"  # plan: user_agent true
    assert set(meta["user_data"]) == {"em", "ph"}
    assert item["destinations"]["ga4"]["ip"] is None  # plan: ip none
    assert item["destinations"]["ga4"]["user_agent"] is None
    crm = item["destinations"]["crm"]["user_data"]
    assert set(crm) == {"sha256_email_address"}  # crm may have email and external_id only
    assert item["context"]["gclid"] == "gclid-1" and item["context"]["fbp"]


def test_click_ids_follow_their_platforms(plan):
    ev = envelope(consent={"analytics": True})
    ev["context"].update({"gclid": "g", "fbc": "fb.1.2.3"})
    item = minimise(ev, decide(ev, plan, "web", 1.0), plan).item
    assert "fbp" not in item["context"] and "fbc" not in item["context"]
    assert item["context"]["gclid"] == "g"  # GA4 is allowed
    assert item["client_id"] == ev["client_id"]


def test_only_anonymized_destinations_lose_identifiers_ip_and_click_ids(plan):
    ev = envelope(consent={})
    item = minimise(ev, decide(ev, plan, "web", 1.0), plan).item
    assert set(item["destinations"]) == {"ga4", "warehouse"}
    for name in ("client_id", "session_id", "user_id"):
        assert name not in item
    assert set(item["context"]) == {"page_location"}
    assert item["consent"] == {"ads": False, "analytics": False, "functional": False}


def test_stripping_rule_covers_every_declared_object(plan):
    validator = EnvelopeValidator(envelope_schema(plan))
    ev = envelope(extra=1)
    ev["consent"]["marketing"] = True
    ev["params"]["secret_note"] = "x"
    ev["params"]["items"][0]["colour"] = "red"
    ev["user_data"]["ssn"] = "123"
    ev["context"]["referrer_email"] = "x@y.z"
    checked = validator.check(ev)
    assert checked.ok
    assert sorted(checked.stripped) == [
        "/consent/marketing",
        "/context/referrer_email",
        "/extra",
        "/params/items/0/colour",
        "/params/secret_note",
        "/user_data/ssn",
    ]
    assert "marketing" not in checked.envelope["consent"]
    assert ev["extra"] == 1  # the caller's object is not modified


def test_a_wrongly_typed_member_is_reported_not_stripped(plan):
    validator = EnvelopeValidator(envelope_schema(plan))
    checked = validator.check(envelope(user_data="ana@example.com"))
    assert not checked.ok
    assert [(e.pointer, e.message) for e in checked.errors] == [
        ("/user_data", "must be of type object, not a string")
    ]


# --- the two validators agree ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
PATHS = [
    ("schema",),
    ("event_name",),
    ("event_id",),
    ("timestamp",),
    ("consent",),
    ("consent", "ads"),
    ("params",),
    ("params", "value"),
    ("params", "currency"),
    ("params", "items"),
    ("params", "transaction_id"),
    ("user_data",),
    ("user_data", "email"),
    ("context",),
    ("context", "ip"),
    ("client_id",),
]


@settings(max_examples=300, deadline=None)
@given(
    mutations=st.lists(st.tuples(st.sampled_from(PATHS), json_values), max_size=3),
    event_name=st.sampled_from(
        ["purchase", "refund", "view_item", "newsletter_signup", "add_to_cart", "unknown"]
    ),
)
def test_fast_and_explaining_validators_agree(mutations, event_name):
    """The Rust fast path accepts exactly what the Python validator accepts, so no envelope
    is let through that would have had errors, and no rejection comes without its pointers."""
    validator = _VALIDATOR
    ev = envelope(event_name=event_name)
    for path, value in mutations:
        target = ev
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else target
        if isinstance(target, dict):
            target[path[-1]] = value
    stripped = validator._strip(ev, validator.schema, "", [], root=ev)
    name = stripped.get("event_name")
    specific = validator._by_event.get(name) if isinstance(name, str) else None
    specific = specific or validator._validator
    python_ok = not list(specific.iter_errors(stripped))
    assert validator._fast.is_valid(stripped) == python_ok
    assert python_ok == (not list(validator._validator.iter_errors(stripped)))


def test_page_urls_lose_personal_data_and_all_of_query_when_only_anonymized(plan):
    url = "https://shop.example/checkout?email=ana%40example.com&utm_source=news&step=2#ana@x.io"
    ev = envelope()
    ev["context"].update({"page_location": url, "page_referrer": url})
    item = minimise(ev, decide(ev, plan, "web", 1.0), plan).item
    assert (
        item["context"]["page_location"] == "https://shop.example/checkout?utm_source=news&step=2"
    )
    assert item["context"]["page_referrer"] == item["context"]["page_location"]
    ev = envelope(consent={})
    ev["context"]["page_location"] = url
    item = minimise(ev, decide(ev, plan, "web", 1.0), plan).item
    assert set(item["destinations"]) == {"ga4", "warehouse"}  # both anonymised
    assert item["context"]["page_location"] == "https://shop.example/checkout"
