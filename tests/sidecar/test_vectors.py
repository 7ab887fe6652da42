"""The Python side of the shared vectors (consent.json, urls.json): the same files the tags'
JS twins run in tests/generator/test_twins_js.py. ip.json runs in test_ipanon.py,
pii_vectors.json in test_pii.py."""

from __future__ import annotations

import json

import pytest

from formats.plan import load_plan
from sidecar.decision import consent_signals
from sidecar.decision.consent import effective_purposes
from sidecar.minimisation import url as urlmin
from tests.conftest import EXAMPLE_PLAN, REPO

VECTORS = REPO / "tests" / "vectors"
CONSENT = json.loads((VECTORS / "consent.json").read_text(encoding="utf-8"))
URLS = json.loads((VECTORS / "urls.json").read_text(encoding="utf-8"))
PLAN = load_plan(str(EXAMPLE_PLAN))


@pytest.mark.parametrize("case", CONSENT["gcs_cases"], ids=[c["id"] for c in CONSENT["gcs_cases"]])
def test_gcs_vector(case: dict) -> None:
    result = consent_signals.purposes_from_gcs(case["input"])
    if case.get("error"):
        assert isinstance(result, consent_signals.SignalError)
    else:
        assert result == case["purposes"]


@pytest.mark.parametrize(
    "case", CONSENT["combined_cases"], ids=[c["id"] for c in CONSENT["combined_cases"]]
)
def test_combined_vector(case: dict) -> None:
    context = {} if case["gcs"] is None else {"gcs": case["gcs"]}
    states, _, _ = effective_purposes({"consent": case["consent"], "context": context}, PLAN)
    assert {p: states[p].granted for p in ("ads", "analytics")} == case["purposes"]


@pytest.mark.parametrize("case", URLS["cases"], ids=[c["id"] for c in URLS["cases"]])
def test_url_vector(case: dict) -> None:
    assert urlmin.minimise_url(case["url"], False) == case["minimised"]
    assert urlmin.minimise_url(case["url"], True) == case["anonymized"]


@pytest.mark.parametrize("case", URLS["plan_cases"], ids=[c["id"] for c in URLS["plan_cases"]])
def test_url_plan_vector(case: dict) -> None:
    deny = urlmin.DENY_PARAMS + tuple(case["deny_extra"])
    assert urlmin.minimise_url(case["url"], False, deny, case["keep_extra"]) == case["minimised"]
