"""The tags' sandboxed twins of sidecar rules, against the same vectors files the Python tests
read (tests/vectors/ip.json, consent.json, urls.json; pii_vectors.json is test_pii_js.py's).

Each vector runs here against the generated JS and in tests/sidecar/test_vectors.py against
Python; on top of the vectors, random input must give the same answer on both sides.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.plan import load_plan
from generator.render.env import render
from generator.render.templates import client_template, tag_code, url_context
from sidecar.decision import consent_signals
from sidecar.decision.consent import effective_purposes
from sidecar.minimisation import ip as ipanon
from sidecar.minimisation import url as urlmin
from tests.conftest import EXAMPLE_PLAN, REPO
from tests.generator import jsharness

VECTORS = REPO / "tests" / "vectors"
IP = json.loads((VECTORS / "ip.json").read_text(encoding="utf-8"))
CONSENT = json.loads((VECTORS / "consent.json").read_text(encoding="utf-8"))
URLS = json.loads((VECTORS / "urls.json").read_text(encoding="utf-8"))
PLAN = load_plan(str(EXAMPLE_PLAN))
_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _client_function(name: str) -> str:
    code = client_template(PLAN).text
    match = re.search(rf"^function {name}\(.*?^}}\n", code, re.M | re.S)
    assert match, name
    return match.group(0)


@pytest.fixture(scope="module")
def ctx():
    code = "\n".join(
        [
            render("tpl/_ip.js.jinja"),
            render("tpl/_gcs.js.jinja"),
            render("tpl/_url.js.jinja", **url_context(PLAN)),
            _client_function("consentModeString"),
        ]
    )
    return jsharness.context(code)


def _plan_ctx(deny: list[str], keep: list[str]):
    context = url_context(PLAN)
    context["url_deny_params"] += deny
    context["url_keep_params"] += keep
    return jsharness.context(render("tpl/_url.js.jinja", **context))


def test_every_tag_carries_these_exact_helpers() -> None:
    parts = [
        render("tpl/_ip.js.jinja").strip("\n"),
        render("tpl/_gcs.js.jinja").strip("\n"),
        render("tpl/_url.js.jinja", **url_context(PLAN)).strip("\n"),
    ]
    for kind in {d.kind for d in PLAN.destinations.values()}:
        code = tag_code(PLAN, kind)
        for part in parts:
            assert part in code, kind
    assert parts[1] in client_template(PLAN).text


# ---- IP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", IP["cases"], ids=[c["id"] for c in IP["cases"]])
def test_ip_vector(ctx, case: dict) -> None:
    result = jsharness.call(ctx, "anonymizeIp", case["input"])
    assert result == (None if case.get("error") else case["anonymized"])


@pytest.mark.parametrize(
    "case", IP["forwarded_cases"], ids=[c["id"] for c in IP["forwarded_cases"]]
)
def test_forwarded_vector(ctx, case: dict) -> None:
    result = ctx.eval(f"JSON.stringify(anonymizeIp(firstIp({json.dumps(case['header'])})))")
    assert (None if result is None else json.loads(result)) == (
        None if case.get("error") else case["anonymized"]
    )


def _python_ip(text: str) -> str | None:
    result = ipanon.anonymize_ip(text)
    return None if isinstance(result, ipanon.IpError) else result


def _python_full(text: str) -> str | None:
    result = ipanon.parse_ip(text)
    return None if isinstance(result, ipanon.IpError) else str(result)


_HEXTET = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=5)
_OCTET = st.sampled_from(["0", "1", "9", "10", "010", "99", "199", "255", "256", "300", ""])
_V4 = st.builds(".".join, st.lists(_OCTET, min_size=3, max_size=5))
_V6 = st.builds(":".join, st.lists(_HEXTET, min_size=2, max_size=10)) | st.builds(
    lambda a, b: a + "::" + b,
    st.builds(":".join, st.lists(_HEXTET, max_size=8)),
    st.builds(":".join, st.lists(_HEXTET, max_size=8)),
)
_PORT = st.sampled_from(["", ":0", ":1", ":443", ":65535", ":65536", ":00080", ":123456", ":x"])
_IP = (
    st.builds(lambda a, p: a + p, _V4, _PORT)
    | _V6
    | st.builds(lambda a, p: "[" + a + "]" + p, _V6 | _V4, _PORT)
    | st.builds(lambda a, b: a + ":" + b, _V6, _V4)
    | st.builds(lambda a: "2002:" + a, _V6)
    | st.builds(lambda a: "::ffff:" + a, _V4 | _V6)
    | st.text(alphabet="0123456789abcdef:.[]% \t", max_size=24)
)


@_SETTINGS
@given(text=_IP)
def test_ip_agrees_with_python_on_random_input(ctx, text: str) -> None:
    assert jsharness.call(ctx, "anonymizeIp", text) == _python_ip(text), text
    assert jsharness.call(ctx, "normalizeIp", text) == _python_full(text), text


# ---- consent signals ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CONSENT["gcs_cases"], ids=[c["id"] for c in CONSENT["gcs_cases"]])
def test_gcs_vector(ctx, case: dict) -> None:
    result = jsharness.call(ctx, "consentFromGcs", case["input"])
    assert result == (None if case.get("error") else case["purposes"])


@pytest.mark.parametrize(
    "case", CONSENT["combined_cases"], ids=[c["id"] for c in CONSENT["combined_cases"]]
)
def test_combined_vector(ctx, case: dict) -> None:
    mode = jsharness.call(ctx, "consentModeString", case["consent"], case["gcs"])
    assert jsharness.call(ctx, "consentFromGcs", mode) == case["purposes"]


def _python_gcs(value: str) -> dict | None:
    result = consent_signals.purposes_from_gcs(value)
    return None if isinstance(result, consent_signals.SignalError) else result


@_SETTINGS
@given(value=st.text(alphabet="G1gX0-x2 \t\n\u00a0", max_size=6))
def test_gcs_agrees_with_python_on_random_input(ctx, value: str) -> None:
    assert jsharness.call(ctx, "consentFromGcs", value) == _python_gcs(value), value
    # And the client's combined string grants exactly what the sidecar's decision grants.
    envelope = {"consent": {"ads": True, "analytics": True}, "context": {"gcs": value}}
    states, _, _ = effective_purposes(envelope, PLAN)
    mode = jsharness.call(ctx, "consentModeString", envelope["consent"], value)
    assert jsharness.call(ctx, "consentFromGcs", mode) == {
        "ads": states["ads"].granted,
        "analytics": states["analytics"].granted,
    }, value


# ---- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", URLS["cases"], ids=[c["id"] for c in URLS["cases"]])
def test_url_vector(ctx, case: dict) -> None:
    assert jsharness.call(ctx, "minimiseUrl", case["url"], False) == case["minimised"]
    assert jsharness.call(ctx, "minimiseUrl", case["url"], True) == case["anonymized"]


@pytest.mark.parametrize("case", URLS["plan_cases"], ids=[c["id"] for c in URLS["plan_cases"]])
def test_url_plan_vector(case: dict) -> None:
    plan_ctx = _plan_ctx(case["deny_extra"], case["keep_extra"])
    assert jsharness.call(plan_ctx, "minimiseUrl", case["url"], False) == case["minimised"]


_PART = st.text(alphabet="ab@.+%0123456789-_()/ eEmailNAME[]=\u00e9#", max_size=14)
_URL = st.builds(
    lambda base, pairs, frag: base + ("?" + "&".join(pairs) if pairs else "") + frag,
    st.sampled_from(["https://shop.example/p", "https://a:b@h.example", "/x", ""]),
    st.lists(
        st.builds(
            lambda k, v: k + "=" + v,
            st.sampled_from(["email", "utm_x", "gclid", "q", "Phone", "customer[name]", "k%41"])
            | _PART,
            _PART,
        ),
        max_size=4,
    ),
    st.sampled_from(["", "#", "#top", "#a=1&token=2"]) | st.builds(lambda t: "#" + t, _PART),
)


@_SETTINGS
@given(url=_URL, anonymized=st.booleans())
def test_url_agrees_with_python_on_random_input(ctx, url: str, anonymized: bool) -> None:
    expected = urlmin.minimise_url(url, anonymized, PLAN.privacy.deny_params)
    assert jsharness.call(ctx, "minimiseUrl", url, anonymized) == expected, url


def test_the_tags_own_tests_sample_these_vectors() -> None:
    """The ___TESTS___ samples in ga4.tests.yaml.jinja are vectors, not numbers of their own."""
    tests = render("tpl/ga4.tests.yaml.jinja", with_pii=False)
    ip_pairs = re.findall(r"\['([^']+)', (?:'([^']*)'|undefined)\]", tests)
    expected = {c["input"]: c.get("anonymized") for c in IP["cases"] if isinstance(c["input"], str)}
    assert len(ip_pairs) >= 7
    for text, anonymized in ip_pairs:
        assert text in expected, text
        assert expected[text] == (anonymized or None), text
    malformed = re.search(r"const malformed = \[(.*)\];", tests)
    assert malformed
    gcs_errors = [c["input"] for c in CONSENT["gcs_cases"] if c.get("error")]
    for value in re.findall(r"'([^']*)'", malformed.group(1)):
        assert value.replace("\\u00a0", "\u00a0") in gcs_errors, value


def test_the_meta_tests_url_sample_is_a_vector() -> None:
    tests = render("tpl/meta_capi.tests.yaml.jinja", with_pii=True)
    url = re.search(r"eventData.page_location = '([^']+)';", tests)
    sent = re.search(r"event_source_url\)\.isEqualTo\('([^']+)'\)", tests.split("[Vectors]")[1])
    assert url and sent
    cases = {c["url"]: c["minimised"] for c in URLS["cases"]}
    assert cases[url.group(1)] == sent.group(1)
