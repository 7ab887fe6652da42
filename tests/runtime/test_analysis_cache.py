"""runtime/analysis_cache.py: accepted code is checked once per content, rejected code always."""

from __future__ import annotations

import pytest

from runtime import analysis_cache, syntax

CODE = (
    "const log = require('logToConsole');\nfor (let i = 0; i < 2; i++) { log(i); }\n[1].fill(0);\n"
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGTM_CACHE_DIR", str(tmp_path))
    return tmp_path / "analysis"


def test_an_accepted_analysis_is_answered_from_the_cache_unchanged(cache, monkeypatch):
    fresh = syntax.analyse(CODE, "t.tpl", 7)
    assert analysis_cache.analyse(CODE, "t.tpl", 7) == fresh
    assert len(list(cache.glob("*.json"))) == 1

    def no_parse(*_a, **_k):
        raise AssertionError("the cached analysis should have been used")

    monkeypatch.setattr(syntax, "analyse", no_parse)
    assert fresh.warnings and analysis_cache.analyse(CODE, "t.tpl", 7) == fresh
    # The same code under another name (generated into another directory) is the same entry,
    # its warnings naming the new file; another first line is another entry.
    moved = analysis_cache.analyse(CODE, "elsewhere/t.tpl", 7)
    assert [str(w) for w in moved.warnings] == [
        str(w).replace("t.tpl", "elsewhere/t.tpl", 1) for w in fresh.warnings
    ]
    with pytest.raises(AssertionError, match="cached analysis"):
        analysis_cache.analyse(CODE, "t.tpl", 8)


def test_a_damaged_entry_is_checked_again(cache):
    first = analysis_cache.analyse(CODE, "t.tpl", 1)
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json", encoding="utf-8")
    assert analysis_cache.analyse(CODE, "t.tpl", 1) == first


def test_rejected_code_is_never_cached(cache):
    for _ in range(2):
        with pytest.raises(syntax.TemplateSyntaxError, match="t.tpl:3:1: 'this' is not supported"):
            analysis_cache.analyse("this.x = 1;", "t.tpl", 3)
    assert not list(cache.glob("*.json"))


def test_off_disables_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGTM_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert analysis_cache.analyse(CODE).code == syntax.check(CODE)
    assert not list(tmp_path.rglob("*.json"))
