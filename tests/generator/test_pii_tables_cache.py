"""The plan-independent PII tables come from a disk cache, identical to computing them."""

from __future__ import annotations

import pytest

from generator.render import pii_tables


def _clear() -> None:
    for fn in (
        pii_tables._plan_independent,
        pii_tables.phone_regions,
        pii_tables.calling_codes,
        pii_tables.char_classes,
        pii_tables.iso_countries,
    ):
        fn.cache_clear()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGTM_CACHE_DIR", str(tmp_path))
    _clear()
    yield tmp_path / "pii-tables"
    _clear()


def test_the_cached_tables_equal_the_computed_ones_for_any_home(cache, monkeypatch):
    computed = pii_tables.compute_plan_independent()
    first = pii_tables.context("DE")
    assert len(list(cache.glob("*.json"))) == 1

    _clear()  # a new process: only the disk cache is left
    monkeypatch.setattr(
        pii_tables, "compute_plan_independent", lambda: pytest.fail("cache not used")
    )
    assert pii_tables.context("DE") == first
    assert pii_tables.char_classes() == computed["char_classes"]
    assert pii_tables.calling_codes() == computed["calling_codes"]
    assert pii_tables.iso_countries() == computed["iso_countries"]
    # A home that is a main region, one that is not (CA shares +1 with US), none, and one
    # phonenumbers does not know: the same rows in the same order as computing them directly.
    for home in ("DE", "CA", "GB", "", "ZZ"):
        got = pii_tables.phone_regions(home)
        want = pii_tables._compute_phone_regions(home)
        assert list(got.items()) == list(want.items()), home


def test_a_damaged_entry_is_computed_again(cache):
    tables = pii_tables._plan_independent()
    (entry,) = cache.glob("*.json")
    entry.write_text("[", encoding="utf-8")
    _clear()
    assert pii_tables._plan_independent() == tables
