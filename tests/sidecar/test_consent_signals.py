"""Consent Mode gcs/gcd and TCF v2.2 decoding, purpose mapping and `stricter`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.decision import consent_signals as cs

# --- gcs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gcs", "ads", "analytics"),
    [("G100", False, False), ("G101", False, True), ("G110", True, False), ("G111", True, True)],
)
def test_gcs_table(gcs: str, ads: bool, analytics: bool) -> None:
    assert cs.purposes_from_gcs(gcs) == {"ads": ads, "analytics": analytics}


def test_gcs_not_set_is_not_granted() -> None:
    assert cs.decode_gcs("G1-1") == cs.GcsSignal("not_set", "granted")
    assert cs.purposes_from_gcs("G1-1") == {"ads": False, "analytics": True}


@pytest.mark.parametrize(
    ("gcs", "position", "text"),
    [
        ("G10", None, "expected 'G1' followed by two"),
        ("G1000", None, "expected 'G1'"),
        ("G200", None, "expected 'G1'"),
        ("G1x1", 2, "expected 0, 1 or -, got 'x'"),
        ("G112", 3, "expected 0, 1 or -, got '2'"),
    ],
)
def test_gcs_errors(gcs: str, position: int | None, text: str) -> None:
    error = cs.purposes_from_gcs(gcs)
    assert isinstance(error, cs.SignalError)
    assert (error.signal, error.position, error.pointer) == ("gcs", position, "/context/gcs")
    assert text in error.message


# --- gcd ------------------------------------------------------------------------------------

# protocols.md §4.3, letter table
GCD_LETTERS = {
    "l": ("not_set", "not_set"),
    "p": ("denied", "not_set"),
    "q": ("denied", "denied"),
    "r": ("denied", "granted"),
    "t": ("granted", "not_set"),
    "u": ("granted", "denied"),
    "v": ("granted", "granted"),
    "m": ("not_set", "denied"),
    "n": ("not_set", "granted"),
}
EFFECTIVE = {"l": False, "p": False, "q": False, "r": True, "t": True, "u": False, "v": True,
             "m": False, "n": True}  # fmt: skip


def test_gcd_letters_are_exactly_the_documented_nine() -> None:
    decoded = {ch: cs.gcd_letter(ch) for ch in cs._GCD_ALPHABET if cs.gcd_letter(ch)}
    assert decoded == GCD_LETTERS


@pytest.mark.parametrize(
    ("gcd", "expected"),
    [
        ("11p1p1p1p5", cs.GcdSignal("denied", "denied", "denied", "denied")),
        ("11t1t1t1p5", cs.GcdSignal("granted", "granted", "granted", "denied")),
        ("13p3t3p3p5l1", cs.GcdSignal("denied", "granted", "denied", "denied")),
        ("13r3r3r3r5", cs.GcdSignal("granted", "granted", "granted", "granted")),
        ("11l1l1l1l5", cs.GcdSignal("not_set", "not_set", "not_set", "not_set")),
    ],
)
def test_gcd_examples(gcd: str, expected: cs.GcdSignal) -> None:
    assert cs.decode_gcd(gcd) == expected


def test_gcd_ads_needs_ad_storage_and_ad_user_data() -> None:
    assert cs.purposes_from_gcd("13p3t3p3p5l1") == {"analytics": True, "ads": False}
    # ad_storage granted but ad_user_data denied: no ads.
    assert cs.purposes_from_gcd("13v3v3u3v5") == {"analytics": True, "ads": False}
    assert cs.purposes_from_gcd("13v3q3v3q5") == {"analytics": False, "ads": True}


@settings(deadline=None)
@given(st.sampled_from(sorted(GCD_LETTERS)), st.sampled_from(sorted(GCD_LETTERS)),
       st.sampled_from(sorted(GCD_LETTERS)), st.sampled_from(sorted(GCD_LETTERS)),
       st.from_regex(r"[0-9a-zA-Z_-]{0,6}", fullmatch=True))  # fmt: skip
def test_gcd_every_letter_combination(a: str, b: str, c: str, d: str, tail: str) -> None:
    purposes = cs.purposes_from_gcd(f"13{a}3{b}3{c}3{d}5{tail}")
    assert purposes == {"analytics": EFFECTIVE[b], "ads": EFFECTIVE[a] and EFFECTIVE[c]}


@pytest.mark.parametrize(
    ("gcd", "position", "text"),
    [
        ("11p1p1p1", None, "expected 9 to 64 characters, got 8"),
        ("1xp1p1p1p5", 1, "expected a digit, got 'x'"),
        ("11p1p1p1k5", 8, "'k' is not a consent letter for ad_personalization"),
        ("11a1p1p1p5", 2, "'a' is not a consent letter for ad_storage"),
        ("11p1p1p1p5!", 9, "unexpected character after the consent letters"),
        ("11p1p1p1p5" + "1" * 60, None, "expected 9 to 64 characters"),
    ],
)
def test_gcd_errors(gcd: str, position: int | None, text: str) -> None:
    error = cs.decode_gcd(gcd)
    assert isinstance(error, cs.SignalError)
    assert error.position == position
    assert text in error.message


# --- TCF ------------------------------------------------------------------------------------

IAB_SAMPLE = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"


def test_iab_spec_sample_vector() -> None:
    tc = cs.decode_tcf(IAB_SAMPLE)
    assert isinstance(tc, cs.TcString)
    assert (tc.version, tc.cmp_id, tc.consent_language, tc.vendor_list_version) == (2, 27, "en", 15)
    assert tc.policy_version == 2
    assert tc.purposes_consent == {1, 2, 3}
    assert tc.purposes_li_transparency == frozenset()
    assert tc.publisher_cc == "AA"
    assert tc.max_vendor_id == 8
    assert tc.vendor_consents.ids() == [2, 6, 8]
    assert 755 not in tc.vendor_consents
    # Purposes 1-3 only: no measurement purposes, so neither analytics nor ads.
    assert cs.purposes_from_tc(tc) == {"ads": False, "analytics": False, "functional": True}


class _Writer:
    """Test-side TC string encoder (independent of the decoder under test)."""

    def __init__(self) -> None:
        self.bits: list[str] = []

    def int(self, value: int, width: int) -> _Writer:
        self.bits.append(format(value, f"0{width}b"))
        return self

    def flags(self, ids: set[int], width: int) -> _Writer:
        return self.int(sum(1 << (width - i) for i in ids), width)

    def letters(self, two: str) -> _Writer:
        return self.int(ord(two[0]) - 65, 6).int(ord(two[1]) - 65, 6)

    def vendors(self, ids: set[int], ranged: bool) -> _Writer:
        top = max(ids, default=0)
        self.int(top, 16).int(1 if ranged else 0, 1)
        if not ranged:
            return self.flags(ids, top) if top else self
        return self.ranges(ids)

    def ranges(self, ids: set[int]) -> _Writer:
        runs: list[list[int]] = []
        for v in sorted(ids):
            if runs and runs[-1][1] == v - 1:
                runs[-1][1] = v
            else:
                runs.append([v, v])
        self.int(len(runs), 12)
        for lo, hi in runs:
            self.int(1 if hi > lo else 0, 1).int(lo, 16)
            if hi > lo:
                self.int(hi, 16)
        return self

    def encode(self) -> str:
        bits = "".join(self.bits)
        bits += "0" * (-len(bits) % 6)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(alphabet[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _tc(
    purposes: set[int],
    vendors: set[int],
    *,
    ranged: bool = False,
    restrictions: list[tuple[int, int, set[int]]] = (),  # type: ignore[assignment]
    version: int = 2,
    stop_after_core: bool = False,
) -> str:
    w = _Writer().int(version, 6).int(17_000_000_000, 36).int(17_000_000_001, 36)
    w.int(300, 12).int(5, 12).int(1, 6).letters("DE").int(150, 12).int(5, 6).int(1, 1).int(0, 1)
    w.flags({1}, 12).flags(purposes, 24).flags({2, 7}, 24).int(0, 1).letters("DE")
    if stop_after_core:
        return w.encode()
    w.vendors(vendors, ranged).vendors({755}, False)
    w.int(len(restrictions), 12)
    for purpose, kind, ids in restrictions:
        w.int(purpose, 6).int(kind, 2).ranges(ids)
    return w.encode()


ALL_ADS = {1, 3, 4, 7}


def test_encoded_string_decodes_every_field() -> None:
    tc = cs.decode_tcf(_tc({1, 8, 9}, {755, 1000}, restrictions=[(7, 1, {755})]))
    assert isinstance(tc, cs.TcString)
    assert (tc.created, tc.last_updated, tc.cmp_id, tc.cmp_version) == (
        17_000_000_000,
        17_000_000_001,
        300,
        5,
    )
    assert (tc.consent_screen, tc.consent_language, tc.vendor_list_version) == (1, "de", 150)
    assert (tc.policy_version, tc.is_service_specific, tc.use_non_standard_texts) == (
        5,
        True,
        False,
    )
    assert tc.special_feature_opt_ins == {1}
    assert tc.purposes_li_transparency == {2, 7}
    assert tc.publisher_cc == "DE"
    assert tc.vendor_consents.ids() == [755, 1000]
    assert tc.vendor_legitimate_interests.ids() == [755]
    assert tc.publisher_restrictions == (
        cs.PublisherRestriction(7, 1, cs.VendorSet(((755, 755),))),
    )


@pytest.mark.parametrize("ranged", [False, True])
def test_ads_needs_purposes_1_3_4_7_and_google(ranged: bool) -> None:
    granted = cs.purposes_from_tcf(_tc(ALL_ADS | {8, 9}, {755}, ranged=ranged))
    assert granted == {"ads": True, "analytics": True, "functional": True}
    for missing in sorted(ALL_ADS - {1}):
        assert cs.purposes_from_tcf(_tc(ALL_ADS - {missing}, {755}, ranged=ranged))["ads"] is False
    assert cs.purposes_from_tcf(_tc(ALL_ADS, {754, 756}, ranged=ranged))["ads"] is False


def test_publisher_restriction_on_google_denies_ads() -> None:
    for kind, ads in ((0, False), (1, True), (2, False)):
        value = _tc(ALL_ADS, {755}, restrictions=[(4, kind, {700, 755, 756})])
        assert cs.purposes_from_tcf(value)["ads"] is ads
    other_vendor = _tc(ALL_ADS, {755}, restrictions=[(4, 0, {1, 2})])
    assert cs.purposes_from_tcf(other_vendor)["ads"] is True


def test_range_encoding_is_not_expanded() -> None:
    # One entry naming vendors 1..65535: must stay a single range, not 65k ints.
    w = _Writer().int(2, 6).int(0, 36).int(0, 36).int(1, 12).int(1, 12).int(0, 6).letters("EN")
    w.int(1, 12).int(4, 6).int(0, 1).int(0, 1).flags(set(), 12).flags(ALL_ADS, 24)
    w.flags(set(), 24).int(0, 1).letters("AA")
    w.int(65535, 16).int(1, 1).int(1, 12).int(1, 1).int(1, 16).int(65535, 16)
    w.vendors(set(), False).int(0, 12)
    tc = cs.decode_tcf(w.encode())
    assert isinstance(tc, cs.TcString)
    assert tc.vendor_consents.ranges == ((1, 65535),)
    assert 755 in tc.vendor_consents and 65535 in tc.vendor_consents and 0 not in tc.vendor_consents


@settings(deadline=None)
@given(
    st.sets(st.integers(min_value=1, max_value=24)),
    st.sets(st.integers(min_value=1, max_value=2000), max_size=40),
    st.booleans(),
)
def test_tcf_round_trip(purposes: set[int], vendors: set[int], ranged: bool) -> None:
    tc = cs.decode_tcf(_tc(purposes, vendors, ranged=ranged))
    assert isinstance(tc, cs.TcString)
    assert tc.purposes_consent == purposes
    assert tc.vendor_consents.ids() == sorted(vendors)
    assert cs.purposes_from_tc(tc)["analytics"] is ({1, 8, 9} <= purposes)


@pytest.mark.parametrize(
    ("value", "text", "position"),
    [
        ("", "empty TC string", None),
        ("C!vFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA", "'!' is not a base64url character", 1),
        (IAB_SAMPLE + ".I*", "'*' is not a base64url character", 49),
        (IAB_SAMPLE + "..x", "empty segment", 48),
        (IAB_SAMPLE[:34], "core segment ends before PublisherCC", 201),
        (IAB_SAMPLE[:32], "core segment ends before PurposesLITransparency", 176),
        (
            _tc(set(), set(), stop_after_core=True),
            "core segment ends before VendorConsent MaxVendorId",
            213,
        ),
        (_tc(set(), set(), version=1), "version 1; only TCF v2 is supported", 0),
        ("A" * 20_000, "longer than 16384 characters", None),
    ],
)
def test_tcf_errors(value: str, text: str, position: int | None) -> None:
    error = cs.decode_tcf(value)
    assert isinstance(error, cs.SignalError)
    assert error.signal == "tcf"
    assert text in error.message
    assert error.position == position
    assert value[:20] not in str(error) or value == ""


def test_tcf_invalid_range_and_restriction_type() -> None:
    w = _Writer().int(2, 6).int(0, 36).int(0, 36).int(1, 12).int(1, 12).int(0, 6).letters("EN")
    w.int(1, 12).int(4, 6).int(0, 1).int(0, 1).flags(set(), 12).flags(set(), 24)
    w.flags(set(), 24).int(0, 1).letters("AA")
    bad_range = _Writer()
    bad_range.bits = list(w.bits)
    bad_range.int(10, 16).int(1, 1).int(1, 12).int(1, 1).int(9, 16).int(3, 16)
    error = cs.decode_tcf(bad_range.encode())
    assert isinstance(error, cs.SignalError)
    assert error.message == "VendorConsent has an invalid vendor range"
    bad_type = _Writer()
    bad_type.bits = list(w.bits)
    bad_type.vendors({1}, False).vendors(set(), False).int(1, 12).int(1, 6).int(3, 2).ranges({1})
    error = cs.decode_tcf(bad_type.encode())
    assert isinstance(error, cs.SignalError)
    assert error.message == "publisher restriction type 3 is undefined"


# --- stricter and decide --------------------------------------------------------------------


def test_stricter_needs_every_speaking_source_to_grant() -> None:
    envelope = {"analytics": True, "ads": True, "functional": True}
    assert cs.stricter(envelope, {"ads": False, "analytics": True}) == {
        "ads": False,
        "analytics": True,
        "functional": True,
    }


def test_stricter_denies_what_no_source_grants() -> None:
    assert cs.stricter() == {"ads": False, "analytics": False, "functional": False}
    assert cs.stricter({"analytics": True}, None) == {
        "ads": False,
        "analytics": True,
        "functional": False,
    }
    # Custom purposes survive; anything but True is a denial.
    assert cs.stricter({"crm": True, "ads": "yes"})["crm"] is True
    assert cs.stricter({"crm": True, "ads": "yes"})["ads"] is False


@settings(deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["analytics", "ads", "functional", "x"]), st.booleans()),
        max_size=4,
    )
)
def test_stricter_never_grants_more_than_any_source(sources: list[dict[str, bool]]) -> None:
    combined = cs.stricter(*sources)
    for source in sources:
        for purpose, granted in source.items():
            if not granted:
                assert combined[purpose] is False
    for purpose, granted in combined.items():
        if granted:
            assert any(purpose in s for s in sources)
    assert cs.stricter(*reversed(sources)) == combined


def test_decide_combines_envelope_and_signals() -> None:
    consent = {"analytics": True, "ads": True, "functional": True}
    context = {"gcs": "G111", "gcd": "13p3t3p3p5l1", "tcf": ""}
    decision = cs.decide(consent, context)
    assert decision == cs.ConsentDecision({"ads": False, "analytics": True, "functional": True})


def test_decide_fails_closed_on_a_malformed_signal() -> None:
    decision = cs.decide({"analytics": True, "ads": True}, {"gcs": "G1x1", "tcf": 42})
    assert decision.purposes == {"ads": False, "analytics": False, "functional": False}
    assert [str(e) for e in decision.errors] == [
        "context.gcs: expected 0, 1 or -, got 'x' (at 2)",
        "context.tcf: expected a string",
    ]


def test_decide_without_signals_is_the_envelope() -> None:
    assert cs.decide({"analytics": True}, None).purposes == {
        "ads": False,
        "analytics": True,
        "functional": False,
    }
