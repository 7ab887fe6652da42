"""The sandboxed PII normaliser the tags carry, against the shared conformance vectors that
sidecar/minimisation/pii.py is tested against too (tests/vectors/pii_vectors.json).

Where the sandbox cannot do what Python does, the JS must drop the value with reason
'sandbox_unsupported', never send a different hash; the cases where that happens are listed
here one by one with the reason, so a new one fails until someone looks at it.
"""

from __future__ import annotations

import json

import pytest

from formats.plan import load_plan
from generator.render import pii_tables
from generator.render.env import render
from generator.render.templates import kind_gets_pii
from tests.conftest import EXAMPLE_PLAN, REPO
from tests.generator import jsharness

VECTORS = json.loads((REPO / "tests" / "vectors" / "pii_vectors.json").read_text(encoding="utf-8"))
FIELD_CASES = VECTORS["field_cases"]
PREPARE_CASES = VECTORS["prepare_cases"]
SANDBOX_UNSUPPORTED = {
    "meta-fn-valery-nfd-input": "NFD input: the sandbox has no Unicode NFC composition",
    "meta-ln-nfd-umlaut": "NFD input: the sandbox has no Unicode NFC composition",
    "google-phone-jp": "Japan's national prefix rule is a regex with a transform",
    "google-phone-br": "Brazil's national prefix and carrier codes need a regex with a transform",
}


def partial() -> str:
    home = load_plan(str(EXAMPLE_PLAN)).default_country
    return render("tpl/_pii.js.jinja", **pii_tables.context(home))


@pytest.fixture(scope="module")
def ctx():
    return jsharness.context(partial())


def test_every_tag_that_may_get_pii_carries_this_exact_normaliser(plan, tpls) -> None:
    code = partial().strip("\n")
    for kind, tpl in tpls.items():
        if kind == "client":
            continue
        if kind_gets_pii(plan, kind):
            assert code in tpl.code, kind
        else:
            # No PII for this kind in the plan: no normaliser, and user data is always empty.
            assert "piiNormalize" not in tpl.code and "sha256Sync" not in tpl.code, kind
            assert "function destinationUserData(entry, rules) {\n  return {};\n}" in tpl.code


def test_the_unsupported_list_names_real_vectors() -> None:
    ids = {c["id"] for c in FIELD_CASES}
    assert set(SANDBOX_UNSUPPORTED) <= ids
    assert all("normalized" in c for c in FIELD_CASES if c["id"] in SANDBOX_UNSUPPORTED), (
        "a listed case is a drop in Python: the JS should agree exactly instead"
    )


@pytest.mark.parametrize("case", FIELD_CASES, ids=[c["id"] for c in FIELD_CASES])
def test_field_vector(ctx, case: dict) -> None:
    result = jsharness.call(
        ctx,
        "piiNormalize",
        case["rules"],
        case["field"],
        case["input"],
        case["default_region"] or "",
        None,
    )
    if case["id"] in SANDBOX_UNSUPPORTED:
        assert result == {"dropped": "sandbox_unsupported"}
    elif "dropped" in case:
        assert result == {"dropped": case["dropped"]}
    else:
        expected = {"value": case["normalized"]}
        if case["sha256"] is not None:
            expected["sha256"] = case["sha256"]
        assert result == expected


@pytest.mark.parametrize("case", PREPARE_CASES, ids=[c["id"] for c in PREPARE_CASES])
def test_prepare_vector(ctx, case: dict) -> None:
    result = jsharness.call(
        ctx,
        "piiPrepare",
        case["rules"],
        case["user_data"],
        case["allowed_fields"],
        case["default_region"] or "",
    )
    assert result == {"fields": case["fields"], "dropped": case["dropped"]}


@pytest.mark.parametrize(
    ("rules", "field", "value"),
    [
        ("meta", "first_name", "Ana\u2460"),  # a circled digit: a block the sandbox leaves alone
        ("google", "city", "K\u00f8benhavn \u2603"),  # a snowman: category So, not in the table
        ("meta", "email", "ana\u0301@example.com"),  # a combining mark
        ("google", "phone", "+1 800 FLOWERS"),  # a vanity number
    ],
)
def test_what_the_sandbox_cannot_classify_is_dropped_not_guessed(ctx, rules, field, value) -> None:
    result = jsharness.call(ctx, "piiNormalize", rules, field, value, "US", None)
    assert result == {"dropped": "sandbox_unsupported"}


# ---- beyond the vectors: the JS agrees with sidecar/pii.py or drops, on generated input -----

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sidecar.minimisation import pii  # noqa: E402

_TEXT = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ019 .-_'@+()~/\t") + ["é", "Ł", "ß", "정", "山", "’", "–", "\u00a0", "²", "☃"]
    ),
    max_size=24,
)
_PHONE = st.builds(
    lambda plus, digits, seps: (
        ("+" if plus else "") + "".join(d + s for d, s in zip(digits, seps, strict=False))
    ),
    st.booleans(),
    st.text(alphabet="0123456789", min_size=1, max_size=16),
    st.lists(st.sampled_from(["", " ", "-", "(", ")", "."]), min_size=16, max_size=16),
)
_REGIONS = st.sampled_from(["", "US", "GB", "DE", "ES", "FR", "IT", "IN", "CA", "AU", "JP", "BR"])


def _python(rules: str, field: str, value: str, region: str) -> dict:
    result = pii.normalize_field(rules, field, value, region or None)
    if isinstance(result, pii.Dropped):
        return {"dropped": result.reason}
    out = {"value": result.value}
    if result.sha256 is not None:
        out["sha256"] = result.sha256
    return out


def _agrees_or_drops(ctx, rules: str, field: str, value: str, region: str) -> None:
    """A value from the JS must be Python's exactly; the JS may drop what Python keeps only as
    'sandbox_unsupported'; when both drop, the reasons (informational) may differ."""
    js = jsharness.call(ctx, "piiNormalize", rules, field, value, region, None)
    python = _python(rules, field, value, region)
    case = (rules, field, value, region, js, python)
    if "dropped" not in js:
        assert js == python, case
    elif "dropped" not in python:
        assert js == {"dropped": "sandbox_unsupported"}, case


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rules=st.sampled_from(["meta", "google"]),
    field=st.sampled_from(
        [
            "email",
            "first_name",
            "last_name",
            "city",
            "region",
            "postal_code",
            "country",
            "external_id",
        ]
    ),
    value=_TEXT
    | st.text(st.characters(max_codepoint=0xFFEF, exclude_categories=("Cs",)), max_size=12),
)
def test_text_fields_agree_with_python_or_drop(ctx, rules, field, value) -> None:
    _agrees_or_drops(ctx, rules, field, value, "US")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rules=st.sampled_from(["meta", "google"]), value=_PHONE, region=_REGIONS)
def test_phones_agree_with_python_or_drop(ctx, rules, value, region) -> None:
    _agrees_or_drops(ctx, rules, "phone", value, region)


def _examples(region: str, fmt) -> list[str]:
    import phonenumbers

    out = []
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            out.append(phonenumbers.format_number(example, fmt))
    return out


def test_google_example_numbers_in_international_format_agree_or_drop(ctx) -> None:
    import phonenumbers

    exact = 0
    for region in sorted(set(phonenumbers.SUPPORTED_REGIONS) - {"AC", "TA", "XK"}):
        for text in _examples(region, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
            for rules in ("meta", "google"):
                _agrees_or_drops(ctx, rules, "phone", text, region)
                js = jsharness.call(ctx, "piiNormalize", rules, "phone", text, region, None)
                exact += "value" in js
    # Most of the world's numbers are handled exactly (892 of 968 when written), not dropped.
    assert exact >= 850


@pytest.mark.parametrize("home", ["ES", "US", "DE", "FR", "GB", "IT", "NL", "PL"])
def test_national_format_numbers_of_the_plan_country_agree(home: str) -> None:
    import phonenumbers

    ctx = jsharness.context(render("tpl/_pii.js.jinja", **pii_tables.context(home)))
    for text in _examples(home, phonenumbers.PhoneNumberFormat.NATIONAL):
        for rules in ("meta", "google"):
            js = jsharness.call(ctx, "piiNormalize", rules, "phone", text, home, None)
            assert js == _python(rules, "phone", text, home), (text, js)
