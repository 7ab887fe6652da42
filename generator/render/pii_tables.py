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

import itertools
import re
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata

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


@cache
def phone_regions() -> dict[str, list[Any]]:
    """Region (or ``X<cc>`` for non-geographic codes) -> [cc, idd, np, lengths, local, pattern]."""
    rows: dict[str, list[Any]] = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is not None:
            rows[region] = _row(meta)
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        if phonenumbers.region_code_for_country_code(code) == "001":
            meta = PhoneMetadata.metadata_for_nongeo_region(code)
            if meta is not None:
                rows[f"X{code}"] = _row(meta)
    return rows


@cache
def calling_codes() -> dict[str, str]:
    """Calling code -> the key of its main region in ``phone_regions`` (what phonenumbers'
    is_possible_number checks lengths against)."""
    out = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        region = phonenumbers.region_code_for_country_code(code)
        key = f"X{code}" if region == "001" else region
        if key in phone_regions():
            out[str(code)] = key
    return out


@cache
def iso_countries() -> str:
    codes = (set(phonenumbers.SUPPORTED_REGIONS) - _NOT_ISO) | _NO_PHONE_PLAN
    return " ".join(sorted(codes))


def context() -> dict[str, Any]:
    """What the ``_pii.js.jinja`` partial needs."""
    return {
        "iso_countries": iso_countries(),
        "phone_regions": phone_regions(),
        "calling_codes": calling_codes(),
    }
