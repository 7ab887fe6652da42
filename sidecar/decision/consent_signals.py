"""Decode CMP consent signals (Consent Mode `gcs`/`gcd`, IAB TCF v2.2) into purpose grants.

The sidecar's own purposes are `analytics`, `ads` and `functional`. Each signal maps to the
purposes it speaks about (the table is in docs/privacy.md); `stricter` combines them with the
envelope's `consent`, so a CMP signal can only ever take consent away. Malformed signals come
back as `SignalError` values, never exceptions, and error text never repeats the signal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

BUILTIN_PURPOSES: tuple[str, ...] = ("analytics", "ads", "functional")

ConsentState = Literal["granted", "denied", "not_set"]
SignalName = Literal["gcs", "gcd", "tcf"]

GOOGLE_VENDOR_ID = 755
# TCF purposes each built-in purpose needs (consent, not legitimate interest):
# ads = 1 store/access + 3/4 ad profiles + 7 ad measurement, i.e. Google's ad_storage,
# ad_personalization and ad_user_data inputs together; analytics = 1 + 8 content measurement +
# 9 audience statistics; functional = 1 (functional storage is device access).
TCF_PURPOSES: dict[str, tuple[int, ...]] = {
    "ads": (1, 3, 4, 7),
    "analytics": (1, 8, 9),
    "functional": (1,),
}
# Vendors that must have consent too, per purpose; Google (755) for ads, where Google's own
# TCF integration requires it.
TCF_REQUIRED_VENDORS: dict[str, int] = {"ads": GOOGLE_VENDOR_ID}

MAX_TC_STRING = 16_384  # real strings are a few KB; anything far larger is an attack or a bug


@dataclass(frozen=True)
class SignalError:
    """A signal that could not be decoded: which one, why, and at which character/bit."""

    signal: SignalName
    message: str
    position: int | None = None

    @property
    def pointer(self) -> str:
        return f"/context/{self.signal}"

    def __str__(self) -> str:
        where = f" (at {self.position})" if self.position is not None else ""
        return f"context.{self.signal}: {self.message}{where}"


# --- Consent Mode ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GcsSignal:
    ad_storage: ConsentState
    analytics_storage: ConsentState


@dataclass(frozen=True)
class GcdSignal:
    """Effective state (update over default) of the four Consent Mode v2 signals."""

    ad_storage: ConsentState
    analytics_storage: ConsentState
    ad_user_data: ConsentState
    ad_personalization: ConsentState


_GCS: dict[str, ConsentState] = {"1": "granted", "0": "denied", "-": "not_set"}
_GCD_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
_GCD_STATE: dict[int, ConsentState] = {1: "not_set", 2: "denied", 3: "granted"}
_GCD_TAIL = re.compile(r"[0-9A-Za-z_-]*")
_GCD_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")


def decode_gcs(value: str) -> GcsSignal | SignalError:
    """`G1` + ad_storage + analytics_storage, each `1` granted, `0` denied (`-` not set)."""
    if not isinstance(value, str):
        return SignalError("gcs", "expected a string")
    # ASCII whitespace only, like the tags' twin (templates/tpl/_gcs.js.jinja).
    text = value.strip(" \t\r\n")
    if len(text) != 4 or not text.startswith("G1"):
        return SignalError("gcs", "expected 'G1' followed by two of 0, 1 or -, e.g. G101")
    for index in (2, 3):
        if text[index] not in _GCS:
            return SignalError("gcs", f"expected 0, 1 or -, got {text[index]!r}", index)
    return GcsSignal(ad_storage=_GCS[text[2]], analytics_storage=_GCS[text[3]])


def gcd_letter(letter: str) -> tuple[ConsentState, ConsentState] | None:
    """(default, update) of one gcd letter, or None if the letter is not a consent letter.

    The letter's index in the alphabet holds the default in bits 2-3 and the update in bits
    0-1 (1 not set, 2 denied, 3 granted) with bit 4 set: exactly l m n p q r t u v.
    """
    index = _GCD_ALPHABET.find(letter)
    if index < 0 or index >> 4 != 1:
        return None
    default, update = (index >> 2) & 3, index & 3
    if default == 0 or update == 0:
        return None
    return _GCD_STATE[default], _GCD_STATE[update]


def decode_gcd(value: str) -> GcdSignal | SignalError:
    """Letters at indexes 2, 4, 6, 8 (ad_storage, analytics_storage, ad_user_data,
    ad_personalization); digits at 0, 1, 3, 5, 7; anything after index 8 is ignored."""
    if not isinstance(value, str):
        return SignalError("gcd", "expected a string")
    text = value.strip()
    if len(text) < 9 or len(text) > 64:
        return SignalError("gcd", f"expected 9 to 64 characters, got {len(text)}")
    for index in (0, 1, 3, 5, 7):
        if not text[index].isdigit() or not text[index].isascii():
            return SignalError("gcd", f"expected a digit, got {text[index]!r}", index)
    states: list[ConsentState] = []
    for index, name in zip((2, 4, 6, 8), _GCD_SIGNALS, strict=True):
        decoded = gcd_letter(text[index])
        if decoded is None:
            return SignalError("gcd", f"{text[index]!r} is not a consent letter for {name}", index)
        default, update = decoded
        states.append(update if update != "not_set" else default)
    if _GCD_TAIL.fullmatch(text, 9) is None:
        return SignalError("gcd", "unexpected character after the consent letters", 9)
    return GcdSignal(*states)


def _granted(state: ConsentState) -> bool:
    # Google: "not set" counts as not granted.
    return state == "granted"


def purposes_from_gcs(value: str) -> dict[str, bool] | SignalError:
    signal = decode_gcs(value)
    if isinstance(signal, SignalError):
        return signal
    return {"analytics": _granted(signal.analytics_storage), "ads": _granted(signal.ad_storage)}


def purposes_from_gcd(value: str) -> dict[str, bool] | SignalError:
    signal = decode_gcd(value)
    if isinstance(signal, SignalError):
        return signal
    return {
        "analytics": _granted(signal.analytics_storage),
        # Sending conversions with user data needs both storage and ad_user_data.
        "ads": _granted(signal.ad_storage) and _granted(signal.ad_user_data),
    }


# --- IAB TCF v2.2 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VendorSet:
    """Vendor ids as sorted, non-overlapping inclusive ranges (range encoding can name 65k ids
    in 5 bytes, so the ids are never expanded into a set)."""

    ranges: tuple[tuple[int, int], ...] = ()

    def __contains__(self, vendor_id: object) -> bool:
        return isinstance(vendor_id, int) and any(lo <= vendor_id <= hi for lo, hi in self.ranges)

    def ids(self, limit: int = 10_000) -> list[int]:
        out: list[int] = []
        for lo, hi in self.ranges:
            out.extend(range(lo, min(hi, lo + limit - len(out) - 1) + 1))
            if len(out) >= limit:
                break
        return out


@dataclass(frozen=True)
class PublisherRestriction:
    purpose: int
    restriction: int  # 0 not allowed, 1 require consent, 2 require legitimate interest
    vendors: VendorSet


@dataclass(frozen=True)
class TcString:
    """The core segment of a TC string."""

    version: int
    created: int  # deciseconds since the epoch
    last_updated: int
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    max_vendor_id: int
    vendor_consents: VendorSet
    max_vendor_li_id: int
    vendor_legitimate_interests: VendorSet
    publisher_restrictions: tuple[PublisherRestriction, ...] = field(default=())


class _Truncated(Exception):
    def __init__(self, what: str, bit: int) -> None:
        super().__init__(what)
        self.what, self.bit = what, bit


class _Invalid(Exception):
    def __init__(self, message: str, bit: int) -> None:
        super().__init__(message)
        self.message, self.bit = message, bit


class _Bits:
    def __init__(self, value: int, length: int) -> None:
        self.value = value
        self.length = length
        self.pos = 0

    def read(self, width: int, what: str) -> int:
        if self.pos + width > self.length:
            raise _Truncated(what, self.pos)
        shift = self.length - self.pos - width
        self.pos += width
        return (self.value >> shift) & ((1 << width) - 1)

    def flags(self, width: int, what: str) -> frozenset[int]:
        bits = self.read(width, what)
        return frozenset(i + 1 for i in range(width) if bits >> (width - 1 - i) & 1)

    def letters(self, what: str) -> str:
        start = self.pos
        first, second = self.read(6, what), self.read(6, what)
        if first > 25 or second > 25:
            raise _Invalid(f"{what} is not two letters", start)
        return chr(ord("A") + first) + chr(ord("A") + second)


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_INDEX = {ch: i for i, ch in enumerate(_B64URL)}


def _segment_bits(segment: str, offset: int) -> _Bits | SignalError:
    # Read the characters as 6-bit groups directly: a byte-oriented base64 decoder would drop
    # the last 2 or 4 bits, and a field may end exactly there.
    value = 0
    for index, ch in enumerate(segment):
        digit = _B64URL_INDEX.get(ch)
        if digit is None:
            return SignalError("tcf", f"{ch!r} is not a base64url character", offset + index)
        value = value << 6 | digit
    if segment == "":
        return SignalError("tcf", "empty segment", offset)
    return _Bits(value, 6 * len(segment))


def _vendor_section(bits: _Bits, name: str) -> tuple[int, VendorSet]:
    max_id = bits.read(16, f"{name} MaxVendorId")
    if bits.read(1, f"{name} IsRangeEncoding"):
        return max_id, _vendor_ranges(bits, name, max_id)
    ranges: list[tuple[int, int]] = []
    for vendor in range(1, max_id + 1):
        if bits.read(1, f"{name} bitfield"):
            if ranges and ranges[-1][1] == vendor - 1:
                ranges[-1] = (ranges[-1][0], vendor)
            else:
                ranges.append((vendor, vendor))
    return max_id, VendorSet(tuple(ranges))


def _vendor_ranges(bits: _Bits, name: str, max_id: int | None) -> VendorSet:
    entries = bits.read(12, f"{name} NumEntries")
    ranges: list[tuple[int, int]] = []
    for _ in range(entries):
        start_bit = bits.pos
        is_range = bits.read(1, f"{name} IsARange")
        lo = bits.read(16, f"{name} StartOrOnlyVendorId")
        hi = bits.read(16, f"{name} EndVendorId") if is_range else lo
        if lo == 0 or hi < lo or (max_id is not None and hi > max_id):
            raise _Invalid(f"{name} has an invalid vendor range", start_bit)
        ranges.append((lo, hi))
    return VendorSet(_merge(ranges))


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def decode_tcf(value: str) -> TcString | SignalError:
    """Decode the core segment (and its publisher restrictions) of a TCF v2 TC string.

    Positions in errors are bit offsets into the core segment. Other segments (disclosed
    vendors, publisher TC) are checked for base64url and otherwise ignored.
    """
    if not isinstance(value, str):
        return SignalError("tcf", "expected a string")
    text = value.strip()
    if text == "":
        return SignalError("tcf", "empty TC string")
    if len(text) > MAX_TC_STRING:
        return SignalError("tcf", f"longer than {MAX_TC_STRING} characters")
    segments = text.split(".")
    offset = 0
    for segment in segments:
        checked = _segment_bits(segment, offset)
        if isinstance(checked, SignalError):
            return checked
        offset += len(segment) + 1
    bits = _segment_bits(segments[0], 0)
    assert isinstance(bits, _Bits)  # checked in the loop above
    try:
        version = bits.read(6, "Version")
        if version != 2:
            return SignalError("tcf", f"version {version}; only TCF v2 is supported", 0)
        created = bits.read(36, "Created")
        last_updated = bits.read(36, "LastUpdated")
        cmp_id = bits.read(12, "CmpId")
        cmp_version = bits.read(12, "CmpVersion")
        consent_screen = bits.read(6, "ConsentScreen")
        language = bits.letters("ConsentLanguage").lower()
        vendor_list_version = bits.read(12, "VendorListVersion")
        policy_version = bits.read(6, "TcfPolicyVersion")
        service_specific = bool(bits.read(1, "IsServiceSpecific"))
        non_standard = bool(bits.read(1, "UseNonStandardTexts"))
        special_features = bits.flags(12, "SpecialFeatureOptIns")
        purposes = bits.flags(24, "PurposesConsent")
        purposes_li = bits.flags(24, "PurposesLITransparency")
        purpose_one = bool(bits.read(1, "PurposeOneTreatment"))
        publisher_cc = bits.letters("PublisherCC")
        max_vendor, vendors = _vendor_section(bits, "VendorConsent")
        max_li, vendors_li = _vendor_section(bits, "VendorLegitimateInterest")
        restrictions: list[PublisherRestriction] = []
        for _ in range(bits.read(12, "NumPubRestrictions")):
            start_bit = bits.pos
            purpose = bits.read(6, "PubRestriction PurposeId")
            restriction = bits.read(2, "PubRestriction RestrictionType")
            if restriction == 3:
                raise _Invalid("publisher restriction type 3 is undefined", start_bit)
            restricted = _vendor_ranges(bits, "PubRestriction", None)
            restrictions.append(PublisherRestriction(purpose, restriction, restricted))
    except _Truncated as exc:
        return SignalError("tcf", f"core segment ends before {exc.what}", exc.bit)
    except _Invalid as exc:
        return SignalError("tcf", exc.message, exc.bit)
    return TcString(
        version=version,
        created=created,
        last_updated=last_updated,
        cmp_id=cmp_id,
        cmp_version=cmp_version,
        consent_screen=consent_screen,
        consent_language=language,
        vendor_list_version=vendor_list_version,
        policy_version=policy_version,
        is_service_specific=service_specific,
        use_non_standard_texts=non_standard,
        special_feature_opt_ins=special_features,
        purposes_consent=purposes,
        purposes_li_transparency=purposes_li,
        purpose_one_treatment=purpose_one,
        publisher_cc=publisher_cc,
        max_vendor_id=max_vendor,
        vendor_consents=vendors,
        max_vendor_li_id=max_li,
        vendor_legitimate_interests=vendors_li,
        publisher_restrictions=tuple(restrictions),
    )


def purposes_from_tc(
    tc: TcString,
    purposes: Mapping[str, tuple[int, ...]] = TCF_PURPOSES,
    required_vendors: Mapping[str, int] = TCF_REQUIRED_VENDORS,
) -> dict[str, bool]:
    """Grant a purpose when every TCF purpose it needs has consent and, where a vendor is
    required, that vendor has consent and no publisher restriction rules consent out."""
    out: dict[str, bool] = {}
    for name, needed in purposes.items():
        granted = all(p in tc.purposes_consent for p in needed)
        vendor = required_vendors.get(name)
        if granted and vendor is not None:
            granted = vendor in tc.vendor_consents and not any(
                r.purpose in needed and r.restriction in (0, 2) and vendor in r.vendors
                for r in tc.publisher_restrictions
            )
        out[name] = granted
    return out


def purposes_from_tcf(value: str) -> dict[str, bool] | SignalError:
    tc = decode_tcf(value)
    return tc if isinstance(tc, SignalError) else purposes_from_tc(tc)


# --- combining ------------------------------------------------------------------------------


def stricter(*sources: Mapping[str, object] | None) -> dict[str, bool]:
    """A purpose is granted only if some source speaks about it and every source that does
    grants it (`True`, nothing else); a purpose no source grants is denied. The result names
    every built-in purpose and every purpose any source mentions, sorted."""
    present = [s for s in sources if s is not None]
    names = set(BUILTIN_PURPOSES).union(*(s.keys() for s in present))
    result: dict[str, bool] = {}
    for name in sorted(names):
        opinions = [s[name] for s in present if name in s]
        result[name] = bool(opinions) and all(o is True for o in opinions)
    return result


@dataclass(frozen=True)
class ConsentDecision:
    purposes: dict[str, bool]
    errors: tuple[SignalError, ...] = ()


_DECODERS = {"gcs": purposes_from_gcs, "gcd": purposes_from_gcd, "tcf": purposes_from_tcf}


def decide(
    consent: Mapping[str, object] | None, context: Mapping[str, object] | None
) -> ConsentDecision:
    """The envelope's `consent` narrowed by whichever of `context.gcs/gcd/tcf` are present.

    Empty or absent signals are ignored. A malformed signal denies every purpose (fail closed)
    and is reported, so the caller can reject the event or count it.
    """
    sources: list[Mapping[str, object] | None] = [consent or {}]
    errors: list[SignalError] = []
    for name, decoder in _DECODERS.items():
        raw = (context or {}).get(name)
        if raw is None or raw == "":
            continue
        if isinstance(raw, str):
            decoded = decoder(raw)
        else:
            decoded = SignalError(name, "expected a string")  # type: ignore[arg-type]
        if isinstance(decoded, SignalError):
            errors.append(decoded)
            sources.append(dict.fromkeys(BUILTIN_PURPOSES, False))
        else:
            sources.append(decoded)
    return ConsentDecision(stricter(*sources), tuple(errors))


# --- Google's two advertising signals -------------------------------------------------------

# TCF purposes behind each of Google's v2 signals (protocols.md §4.5, the commonly cited
# mapping; Google vendor 755 must have consent too): ad_user_data <- 1 and 7,
# ad_personalization <- 3 and 4.
TCF_GOOGLE_SIGNALS: dict[str, tuple[int, ...]] = {
    "ad_user_data": (1, 7),
    "ad_personalization": (3, 4),
}
GOOGLE_SIGNALS = ("ad_user_data", "ad_personalization")


def google_ad_signals(ads_granted: bool, context: Mapping[str, object] | None) -> dict[str, bool]:
    """Consent Mode's ``ad_user_data`` and ``ad_personalization``, each from its own signal.

    Both start from the plan's ``ads`` purpose (already the stricter of the event and every
    CMP signal); a ``gcd`` string then decides each by its own letter, and a TC string by the
    TCF purposes behind it, so a visitor who allowed ad measurement but not personalised ads
    sends ``ad_personalization: DENIED``. Not set counts as denied, as Google treats it; an
    undecodable signal denies both (fail closed).
    """
    out = dict.fromkeys(GOOGLE_SIGNALS, bool(ads_granted))
    ctx = context or {}
    gcd = ctx.get("gcd")
    if isinstance(gcd, str) and gcd:
        decoded = decode_gcd(gcd)
        if isinstance(decoded, SignalError):
            return dict.fromkeys(GOOGLE_SIGNALS, False)
        out["ad_user_data"] = out["ad_user_data"] and _granted(decoded.ad_user_data)
        out["ad_personalization"] = out["ad_personalization"] and _granted(
            decoded.ad_personalization
        )
    tcf = ctx.get("tcf")
    if isinstance(tcf, str) and tcf:
        tc = decode_tcf(tcf)
        if isinstance(tc, SignalError):
            return dict.fromkeys(GOOGLE_SIGNALS, False)
        granted = purposes_from_tc(
            tc, TCF_GOOGLE_SIGNALS, dict.fromkeys(GOOGLE_SIGNALS, GOOGLE_VENDOR_ID)
        )
        for name in GOOGLE_SIGNALS:
            out[name] = out[name] and granted[name]
    return out
