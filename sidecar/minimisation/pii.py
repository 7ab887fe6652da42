"""Normalise and SHA-256 hash user data the way each destination matches it.

Two rule sets exist because Meta and Google normalise the same PII differently (Meta sends
phones without '+', Google with; Google removes dots in Gmail local parts, Meta does not;
Google sends city/region/postal code/country raw, Meta hashes them). The exact rules, and where
each comes from, are in docs/privacy.md; tests/vectors/pii_vectors.json pins them down so the
generated sGTM tags can be held to the same behaviour.

Nothing here logs, and drop reasons never carry the value that was dropped.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import phonenumbers

from formats.plan import model

RULE_SETS: tuple[str, ...] = ("meta", "google")

# The canonical PII field names are the plan's (one list, in the model).
PII_FIELDS: tuple[str, ...] = model.PII_FIELDS

# Closed set of drop reasons, so callers can count them without parsing text.
DropReason = Literal[
    "unknown_field",  # not one of PII_FIELDS
    "not_allowed",  # the plan does not let this destination receive the field
    "unsupported",  # the destination has no key for this field
    "not_a_string",
    "empty",  # nothing left after normalisation
    "invalid_email",
    "invalid_phone",  # parsed, but not a possible number for its country
    "unparseable_phone",  # not a phone number at all, or no country code and no default region
    "invalid_country",
    "prehashed_not_accepted",  # a hash where the destination wants the raw value
]

# Meta's CAPI key for each canonical field; every one of them is hashed.
META_KEYS: dict[str, str] = {
    "email": "em",
    "phone": "ph",
    "first_name": "fn",
    "last_name": "ln",
    "city": "ct",
    "region": "st",
    "postal_code": "zp",
    "country": "country",
    "external_id": "external_id",
}

# Google's sGTM event-data key for each canonical field; address fields nest under "address".
# external_id has no Google user-data key (GA4 uses the envelope's user_id instead).
GOOGLE_KEYS: dict[str, tuple[str, ...]] = {
    "email": ("sha256_email_address",),
    "phone": ("sha256_phone_number",),
    "first_name": ("address", "sha256_first_name"),
    "last_name": ("address", "sha256_last_name"),
    "city": ("address", "city"),
    "region": ("address", "region"),
    "postal_code": ("address", "postal_code"),
    "country": ("address", "country"),
}
GOOGLE_RAW_FIELDS = frozenset({"city", "region", "postal_code", "country"})

_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")
# One '@', something on both sides, a dot in the domain, no whitespace: what Meta's SDK
# checks (.+@.+\..+) minus the cases that cannot be a deliverable address.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

# ISO 3166-1 alpha-2 codes: phonenumbers knows every inhabited region; these seven have no
# phone numbering plan but are assigned codes. AC/TA/XK are phone regions, not ISO codes.
_ISO_COUNTRIES = frozenset(
    (set(phonenumbers.SUPPORTED_REGIONS) - {"AC", "TA", "XK"})
    | {"AQ", "BV", "GS", "HM", "PN", "TF", "UM"}
)


@dataclass(frozen=True)
class Normalized:
    """One field after normalisation: `sha256` is None when the destination takes it raw."""

    value: str
    sha256: str | None


@dataclass(frozen=True)
class Dropped:
    reason: DropReason


@dataclass(frozen=True)
class PreparedUserData:
    """What a destination may receive, in its own key names, plus what was left out and why."""

    fields: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, DropReason] = field(default_factory=dict)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    return _HEX64.fullmatch(value) is not None


def check_region(default_region: str | None) -> str | None:
    """Validate a default region (the plan's country) up front: a typo here is a config error."""
    if default_region is None or default_region == "":
        return None
    region = default_region.strip().upper()
    if region not in _ISO_COUNTRIES:
        raise ValueError(
            f"default_region {default_region!r} is not an ISO 3166-1 alpha-2 country code"
        )
    return region


def normalize_field(
    rules: str,
    field_name: str,
    value: object,
    default_region: str | None = None,
    country: str | None = None,
) -> Normalized | Dropped:
    """Normalise one canonical field by a rule set; hash it when the destination hashes it.

    `default_region` parses phones written without a country code. `country` (ISO alpha-2,
    the address's own country when known) picks the US postal-code rule for Meta.
    """
    if rules not in RULE_SETS:
        raise ValueError(f"unknown rule set {rules!r}; expected one of {', '.join(RULE_SETS)}")
    if field_name not in PII_FIELDS:
        return Dropped("unknown_field")
    if rules == "google" and field_name not in GOOGLE_KEYS:
        return Dropped("unsupported")
    if not isinstance(value, str):
        return Dropped("not_a_string")
    # NFC first: the same name typed on two keyboards must hash the same (protocols.md §2.4).
    text = unicodedata.normalize("NFC", value).strip()
    if text == "":
        return Dropped("empty")
    hashed = not (rules == "google" and field_name in GOOGLE_RAW_FIELDS)
    if is_sha256_hex(text):
        if not hashed:
            return Dropped("prehashed_not_accepted")
        # Already hashed upstream: pass through, never hash twice.
        lowered = text.lower()
        return Normalized(lowered, lowered)
    result = _NORMALIZERS[rules][field_name](text, check_region(default_region), country)
    if isinstance(result, Dropped):
        return result
    if result == "":
        return Dropped("empty")
    return Normalized(result, sha256_hex(result) if hashed else None)


def prepare_user_data(
    user_data: Mapping[str, object],
    rules: str,
    allowed_fields: Iterable[str],
    default_region: str | None,
) -> PreparedUserData:
    """Turn envelope user_data into one destination's hashed user data.

    Output keys are the destination's own: Meta `em`, `ph`, ...; Google
    `sha256_email_address`, `sha256_phone_number` and an `address` object. Every input field
    that is not in the output is in `dropped` with its reason. Output key order is fixed.
    """
    if rules not in RULE_SETS:
        raise ValueError(f"unknown rule set {rules!r}; expected one of {', '.join(RULE_SETS)}")
    region = check_region(default_region)
    allowed = set(allowed_fields)
    country = _address_country(user_data.get("country"))
    out: dict[str, Any] = {}
    address: dict[str, str] = {}
    dropped: dict[str, DropReason] = {}
    for name in sorted(user_data, key=_field_order):  # fixed order: deterministic output
        if name not in PII_FIELDS:
            dropped[name] = "unknown_field"
            continue
        if name not in allowed:
            dropped[name] = "not_allowed"
            continue
        result = normalize_field(rules, name, user_data[name], region, country or region)
        if isinstance(result, Dropped):
            dropped[name] = result.reason
            continue
        sent = result.sha256 if result.sha256 is not None else result.value
        if rules == "meta":
            out[META_KEYS[name]] = sent
        else:
            path = GOOGLE_KEYS[name]
            if len(path) == 1:
                out[path[0]] = sent
            else:
                address[path[1]] = sent
    if address:
        out["address"] = address
    return PreparedUserData(fields=out, dropped=dropped)


def _field_order(name: object) -> tuple[int, str]:
    return (PII_FIELDS.index(name) if name in PII_FIELDS else len(PII_FIELDS), str(name))


def _address_country(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code in _ISO_COUNTRIES else None


# --- shared pieces -------------------------------------------------------------------------


def _drop_categories(text: str, prefixes: tuple[str, ...]) -> str:
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(prefixes))


def _no_space(text: str) -> str:
    return "".join(text.split())


def _one_space(text: str) -> str:
    return " ".join(text.split())


def _email(text: str, *, google: bool) -> str | Dropped:
    if google:
        # Google: "remove all spaces" before anything else.
        text = _no_space(text)
    text = text.lower()
    if _EMAIL.fullmatch(text) is None:
        return Dropped("invalid_email")
    local, domain = text.rsplit("@", 1)
    if google and domain in _GMAIL_DOMAINS:
        # Gmail ignores dots; Google documents no '+tag' rule, so '+tag' stays.
        local = local.replace(".", "")
        if local == "":
            return Dropped("invalid_email")
    return f"{local}@{domain}"


def _e164(text: str, region: str | None) -> str | Dropped:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Dropped("unparseable_phone")
    # "possible" (right length for the country) rather than "valid" (an allocated range):
    # metadata lags new ranges, and Google's own sample +15555555555 is possible, not valid.
    # Local-only numbers (no area code) are refused: the area code would be a guess.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return Dropped("invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _country(text: str) -> str | Dropped:
    code = text.upper()
    if code not in _ISO_COUNTRIES:
        return Dropped("invalid_country")
    return code


# --- Meta (protocols.md §2.4) --------------------------------------------------------------


def _meta_email(text: str, region: str | None, country: str | None) -> str | Dropped:
    return _email(text, google=False)


def _meta_phone(text: str, region: str | None, country: str | None) -> str | Dropped:
    e164 = _e164(text, region)
    # Meta: digits with country code, no '+'.
    return e164 if isinstance(e164, Dropped) else e164[1:]


def _meta_name(text: str, region: str | None, country: str | None) -> str | Dropped:
    # "lowercase, no punctuation"; whitespace goes too, as in Meta's capi-param-builder.
    return _no_space(_drop_categories(text.lower(), ("P", "S")))


def _meta_place(text: str, region: str | None, country: str | None) -> str | Dropped:
    # ct/st: no punctuation, special characters, digits or spaces ("menlopark", "ca").
    return _no_space(_drop_categories(text.lower(), ("P", "S", "N")))


def _meta_postal(text: str, region: str | None, country: str | None) -> str | Dropped:
    code = _no_space(text.lower()).replace("-", "")
    if (country or region) == "US" and re.fullmatch(r"\d{9}|\d{5}", code):
        # US: first 5 digits (ZIP+4 loses the +4).
        return code[:5]
    return code


def _meta_country(text: str, region: str | None, country: str | None) -> str | Dropped:
    code = _country(text)
    return code if isinstance(code, Dropped) else code.lower()


def _meta_external_id(text: str, region: str | None, country: str | None) -> str | Dropped:
    # Meta's capi-param-builder lowercases and strips whitespace before hashing.
    return _no_space(text.lower())


# --- Google (protocols.md §1.9, §3.1) ------------------------------------------------------


def _google_email(text: str, region: str | None, country: str | None) -> str | Dropped:
    return _email(text, google=True)


def _google_phone(text: str, region: str | None, country: str | None) -> str | Dropped:
    return _e164(text, region)


def _google_name(text: str, region: str | None, country: str | None) -> str | Dropped:
    # "remove digits and symbols, lowercase, trim"; inner spaces stay, collapsed to one.
    return _one_space(_drop_categories(text.lower(), ("P", "S", "N")))


def _google_postal(text: str, region: str | None, country: str | None) -> str | Dropped:
    # "remove . and ~, trim": Google sends it raw, so nothing else is touched.
    return text.replace(".", "").replace("~", "").strip()


def _google_country(text: str, region: str | None, country: str | None) -> str | Dropped:
    # Sent raw, upper-case as in Google's own samples ("US").
    return _country(text)


_Normalizer = Callable[[str, str | None, str | None], str | Dropped]
_NORMALIZERS: dict[str, dict[str, _Normalizer]] = {
    "meta": {
        "email": _meta_email,
        "phone": _meta_phone,
        "first_name": _meta_name,
        "last_name": _meta_name,
        "city": _meta_place,
        "region": _meta_place,
        "postal_code": _meta_postal,
        "country": _meta_country,
        "external_id": _meta_external_id,
    },
    "google": {
        "email": _google_email,
        "phone": _google_phone,
        "first_name": _google_name,
        "last_name": _google_name,
        "city": _google_name,
        "region": _google_name,
        "postal_code": _google_postal,
        "country": _google_country,
    },
}
