"""Public sGTM templates, run unmodified with their own ___TESTS___ (tests/runtime/fidelity.py).

The templates are third-party code and are not in this repository: `python -m
tests.runtime.fidelity fetch` puts the pinned files in a cache outside it. Without the cache the
checks skip on a developer machine and fail under CI=true (.ci/run fills it first).
"""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import IN_CI
from tests.runtime.fidelity import cache_dir, load_manifest, run

ENTRIES = load_manifest()


def test_the_manifest_explains_every_failing_scenario():
    labels = [e.label for e in ENTRIES]
    assert len(labels) == len(set(labels))
    assert sum(1 for e in ENTRIES if e.scenarios) >= 40
    for entry in ENTRIES:
        assert entry.scenarios - entry.passing == len(entry.divergences), entry.label
        assert all(len(why) > 40 for why in entry.divergences.values()), entry.label
        assert len(entry.sha256) == 64 and len(entry.commit) == 40, entry.label


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.label for e in ENTRIES])
def test_public_template_runs_as_documented(entry):
    path = entry.cached(cache_dir())
    if not path.is_file():
        message = (
            f"{entry.label} is not in the fidelity cache {cache_dir()}: run "
            "`python -m tests.runtime.fidelity fetch`, or without network fetch the pinned "
            "repositories as git mirrors and run `python -m tests.runtime.fidelity fetch "
            "--from-mirror DIR` (or set SGTM_FIDELITY_CACHE)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, "cache holds other bytes"
    outcome = run(entry, cache_dir())
    assert outcome.error is None
    assert outcome.scenarios == entry.scenarios
    assert sorted(outcome.failing) == sorted(entry.divergences), outcome.failing
    assert outcome.passing == entry.passing
