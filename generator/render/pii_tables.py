"""Lookup tables the sandboxed PII normaliser needs, derived from the phonenumbers metadata.

The sGTM sandbox has no regex literals and no libphonenumber, so the generated tags carry a
compact table instead: per region its calling code, international (IDD) prefix and national
(trunk) prefix, and per calling code the possible national number lengths. Only prefixes that
are plain digit strings (or alternations / character classes of digits) are expressible; a
region whose prefixes need a real regex is marked ``*`` and the JS drops national-format numbers
from it rather than guess (it must agree with sidecar/pii.py or drop, never differ).
"""

from __future__ import annotations

import itertools
import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

UNSUPPORTED = "*"
_SIMPLE = re.compile(r"^(?:\d|\[\d+\])+$")
# The same ISO 3166-1 alpha-2 set sidecar/pii.py accepts: phone regions minus the three that
# are not ISO codes, plus the assigned codes that have no numbering plan.
_NOT_ISO = frozenset({"AC", "TA", "XK"})
_NO_PHONE_PLAN = frozenset({"AQ", "BV", "GS", "HM", "PN", "TF", "UM"})


def _expand(pattern: str | None) -> str:
    """A prefix pattern as '|'-joined digit strings, '' when absent, '*' when not expressible."""
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


@cache
def phone_regions() -> str:
    """``REGION:cc:idd:np`` entries joined by ';', sorted by region."""
    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        national = (
            UNSUPPORTED
            if meta.national_prefix_transform_rule
            else _expand(meta.national_prefix_for_parsing)
        )
        rows.append(f"{region}:{meta.country_code}:{_expand(meta.international_prefix)}:{national}")
    return ";".join(rows)


@cache
def calling_code_lengths() -> str:
    """``cc:len,len`` entries joined by ';': possible national lengths of each calling code's
    main region (what phonenumbers' is_possible_number checks)."""
    rows = []
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        region = phonenumbers.region_code_for_country_code(code)
        meta = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if meta is None or meta.general_desc is None:
            continue
        lengths = meta.general_desc.possible_length or ()
        if not lengths:
            continue
        rows.append(f"{code}:{','.join(str(n) for n in lengths)}")
    return ";".join(rows)


@cache
def iso_countries() -> str:
    codes = (set(phonenumbers.SUPPORTED_REGIONS) - _NOT_ISO) | _NO_PHONE_PLAN
    return " ".join(sorted(codes))
