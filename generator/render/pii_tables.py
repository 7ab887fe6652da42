"""Lookup tables the sandboxed PII normaliser needs, derived from the phonenumbers metadata.

The sGTM sandbox has no libphonenumber, so the generated tags carry its metadata in compact
form: per region its calling code, international (IDD) and national (trunk) prefixes, possible
and local-only lengths and the general national number pattern (run with ``createRegex``); per
calling code its main region. Prefixes are only usable as plain digit strings (or
alternations and character classes of digits); a region whose prefix needs a real regex or a
transform rule is marked ``*`` and the JS drops what depends on it rather than guess: it must
agree with sidecar/pii.py or drop, never differ.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sys
import tempfile
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

UNSUPPORTED = "*"
_SIMPLE = re.compile(r"^(?:\d|\[\d+\])+$")
# RE2 (createRegex) has no lookaround and no backreferences.
_NOT_RE2 = re.compile(r"\(\?[=!<]|\\\d")
# The same ISO 3166-1 alpha-2 set sidecar/pii.py accepts: phone regions minus the three that
# are not ISO codes, plus the assigned codes that have no numbering plan.
_NOT_ISO = frozenset({"AC", "TA", "XK"})
_NO_PHONE_PLAN = frozenset({"AQ", "BV", "GS", "HM", "PN", "TF", "UM"})


def _expand(pattern: str | None) -> str:
    """A prefix pattern as '|'-joined digit strings in match order, '' when absent, '*' when
    it is not expressible that way."""
    if not pattern:
        return ""
    options: list[str] = []
    for alt in pattern.split("|"):
        if not _SIMPLE.match(alt):
            return UNSUPPORTED
        parts = re.findall(r"\d|\[\d+\]", alt)
        choices = [list(p.strip("[]")) for p in parts]
        options.extend("".join(combo) for combo in itertools.product(*choices))
    return "|".join(options)


def _phonenumbers() -> Any:
    # Imported when a table is computed, not at import: a cached start never needs it (~0.16 s).
    import phonenumbers

    return phonenumbers


def _row(meta: Any) -> list[Any]:
    general = meta.general_desc
    pattern = general.national_number_pattern or "(?!)"
    if _NOT_RE2.search(pattern):
        raise ValueError(f"{meta.id}: national number pattern is not RE2: {pattern}")
    national = (
        UNSUPPORTED
        if meta.national_prefix_transform_rule
        else _expand(meta.national_prefix_for_parsing)
    )
    return [
        str(meta.country_code),
        _expand(meta.international_prefix),
        national,
        list(general.possible_length or ()),
        list(general.possible_length_local_only or ()),
        pattern,
    ]


def _compute_phone_regions(home: str = "") -> dict[str, list[Any]]:
    phonenumbers = _phonenumbers()
    wanted = {
        phonenumbers.region_code_for_country_code(code)
        for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    }
    if home:
        wanted.add(home)
    rows: dict[str, list[Any]] = {}
    for region in sorted(set(phonenumbers.SUPPORTED_REGIONS) & wanted):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is not None:
            rows[region] = _row(meta)
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        if phonenumbers.region_code_for_country_code(code) == "001":
            meta = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
            if meta is not None:
                rows[f"X{code}"] = _row(meta)
    return rows


@cache
def phone_regions(home: str = "") -> dict[str, list[Any]]:
    """Region (or ``X<cc>`` for non-geographic codes) -> [cc, idd, np, lengths, local, pattern],
    for the main region of every calling code plus ``home`` (the plan's default country, the
    only region national-format numbers are read in)."""
    base: dict[str, list[Any]] = _plan_independent()["phone_regions"]
    if not home or home in base:
        return base
    # A home that is not a main region: its row, in its sorted place among the regions (the
    # output must equal _compute_phone_regions(home)).
    phonenumbers = _phonenumbers()
    meta = (
        phonenumbers.PhoneMetadata.metadata_for_region(home)
        if home in phonenumbers.SUPPORTED_REGIONS
        else None
    )
    if meta is None:
        return base
    regions = {k: v for k, v in base.items() if not _non_geographic(k)}
    regions[home] = _row(meta)
    ordered = {k: regions[k] for k in sorted(regions)}
    ordered.update({k: v for k, v in base.items() if _non_geographic(k)})
    return ordered


def _non_geographic(key: str) -> bool:
    return key.startswith("X") and key[1:].isdigit()  # X800, not XK (Kosovo)


@cache
def calling_codes() -> dict[str, str]:
    """Calling code -> the key of its main region in ``phone_regions`` (what phonenumbers'
    is_possible_number checks lengths against)."""
    return _plan_independent()["calling_codes"]


def _compute_calling_codes(regions: dict[str, list[Any]]) -> dict[str, str]:
    phonenumbers = _phonenumbers()
    out = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        region = phonenumbers.region_code_for_country_code(code)
        key = f"X{code}" if region == "001" else region
        if key in regions:
            out[str(code)] = key
    return out


# Unicode blocks whose characters the sandbox classifies (with Python's own categories, below);
# anything else is dropped rather than guessed. Long-stable scripts only, so the JS engine's
# case mapping agrees with Python's.
CLASSIFIED_BLOCKS = (
    (0x0000, 0x024F),  # Latin, Latin-1, Latin Extended-A and -B
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x052F),  # Cyrillic and its supplement
    (0x0590, 0x05FF),  # Hebrew
    (0x0600, 0x06FF),  # Arabic
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x206F),  # General Punctuation
    (0x20A0, 0x20CF),  # Currency Symbols
    (0x3000, 0x30FF),  # CJK punctuation, Hiragana, Katakana
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xFF00, 0xFFEF),  # Halfwidth and fullwidth forms
)


@cache
def _composition_tails() -> frozenset[str]:
    # Characters that can compose with what precedes them under NFC (every non-first character
    # of a canonical decomposition: combining marks, Hangul vowels and finals, ...).
    tails: set[str] = set()
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        decomposed = unicodedata.normalize("NFD", chr(code))
        if len(decomposed) > 1:
            tails.update(decomposed[1:])
    return frozenset(tails)


def _char_class(char: str) -> str:
    """Z whitespace (str.isspace), L letter, N number, S punctuation or symbol, X anything the
    sandbox must not touch: NFC would change it or what precedes it, marks, controls, formats."""
    category = unicodedata.category(char)
    if (
        unicodedata.normalize("NFC", char) != char
        or category.startswith("M")
        or unicodedata.combining(char)
        or char in _composition_tails()
    ):
        return "X"
    if char.isspace():
        return "Z"
    if category[0] in "LNZ":
        return category[0] if category[0] != "Z" else "X"
    if category[0] in "PS":
        return "S"
    return "X"


@cache
def char_classes() -> list[list[str]]:
    """[first char, last char, class] runs over CLASSIFIED_BLOCKS, in code point order."""
    return _plan_independent()["char_classes"]


def _compute_char_classes() -> list[list[str]]:
    runs: list[list[Any]] = []
    for first, last in CLASSIFIED_BLOCKS:
        for code in range(first, last + 1):
            kind = _char_class(chr(code))
            if runs and runs[-1][2] == kind and runs[-1][1] == code - 1:
                runs[-1][1] = code
            else:
                runs.append([code, code, kind])
    return [[chr(a), chr(b), kind] for a, b, kind in runs]


@cache
def iso_countries() -> str:
    return _plan_independent()["iso_countries"]


def _compute_iso_countries() -> str:
    codes = (set(_phonenumbers().SUPPORTED_REGIONS) - _NOT_ISO) | _NO_PHONE_PLAN
    return " ".join(sorted(codes))


# ---- the plan-independent tables, cached on disk --------------------------------------------
# Building them takes ~0.3 s (a Unicode scan, all of phonenumbers' metadata) on every
# 'sgtm generate', yet they depend only on this module, phonenumbers' metadata and Python's
# Unicode database: the cache key is made of exactly those. The cache is in $SGTM_CACHE_DIR
# ('off' disables it), else $XDG_CACHE_HOME/sgtm or ~/.cache/sgtm; an unreadable or unwritable
# entry only means computing again.


def compute_plan_independent() -> dict[str, Any]:
    """The tables, computed (what the cache holds)."""
    regions = _compute_phone_regions()
    return {
        "phone_regions": regions,
        "calling_codes": _compute_calling_codes(regions),
        "char_classes": _compute_char_classes(),
        "iso_countries": _compute_iso_countries(),
    }


def _cache_path() -> Path | None:
    configured = os.environ.get("SGTM_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        base = Path(configured)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sgtm"
    from importlib import metadata

    try:
        version = metadata.version("phonenumbers")
    except metadata.PackageNotFoundError:
        version = "?"
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"\0{version}\0{unicodedata.unidata_version}\0{sys.version_info[:2]}".encode())
    return base / "pii-tables" / f"{h.hexdigest()}.json"


@cache
def _plan_independent() -> dict[str, Any]:
    path = _cache_path()
    if path is not None:
        try:
            tables = json.loads(path.read_text(encoding="utf-8"))
            if set(tables) == {"phone_regions", "calling_codes", "char_classes", "iso_countries"}:
                return tables
        except (OSError, ValueError):
            pass
    tables = compute_plan_independent()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(tables, f, ensure_ascii=False)
            os.replace(tmp, path)  # renamed into place: a concurrent reader sees all or nothing
        except OSError:
            pass
    return tables


def context(home: str = "") -> dict[str, Any]:
    """What the ``_pii.js.jinja`` partial needs; ``home`` is the plan's default country."""
    return {
        "iso_countries": iso_countries(),
        "phone_regions": phone_regions(home),
        "calling_codes": calling_codes(),
        "char_classes": char_classes(),
    }
