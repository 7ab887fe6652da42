"""Take personal data out of page URLs before any destination sees them.

Rules (docs/privacy.md, "URLs"), the same in the tags' ``minimiseUrl``
(templates/tpl/_url.js.jinja); both are held to tests/vectors/urls.json:

- ``user:password@`` before the host is always removed.
- An anonymised destination gets scheme, host and path only: no query, no fragment.
- Otherwise each query parameter is kept unless its decoded value looks like an email address
  or a phone number, or its name (or a ``_``/``-``/``.``/``[]`` separated word of it) is on the
  denylist; names on the allowlist (``utm_*``, click ids) are exempt from the denylist, not from
  the value check. A parameter that cannot be decoded (bad ``%`` escape, invalid UTF-8) is
  dropped: what cannot be read cannot be cleared.
- A fragment with ``=`` is filtered like a query; any other fragment is dropped when it looks
  like an email address or a phone number.

String handling is ASCII-only on purpose (lower-casing, separators, digits) so that Python and
the sandboxed JS cannot disagree on Unicode rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from formats.plan.model import URL_ALLOW_PARAMS as ALLOW_PARAMS
from formats.plan.model import URL_DENY_PARAMS as DENY_PARAMS

ALLOW_PREFIXES: tuple[str, ...] = ("utm_",)
_HEX = "0123456789abcdefABCDEF"
_PHONE_SEPARATORS = " -.()/"
_DIGITS = "0123456789"


def _lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _decode(text: str) -> str | None:
    """`+` as space and `%XX` escapes as their byte; None for a broken escape.

    Escaped bytes other than printable ASCII become U+0080 each instead of being decoded as
    UTF-8: every check here reads printable ASCII only, so this cannot hide an email or a phone,
    and it leaves no UTF-8 decoder for Python and the sandbox to disagree on.
    """
    out: list[str] = []
    i = 0
    text = text.replace("+", " ")
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        pair = text[i + 1 : i + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            return None
        byte = int(pair, 16)
        out.append(chr(byte) if 0x20 <= byte < 0x7F else "\x80")
        i += 3
    return "".join(out)


def looks_like_email(value: str) -> bool:
    at = value.find("@")
    if at < 1:
        return False
    domain = value[at + 1 :]
    return any(domain[j] == "." for j in range(1, len(domain) - 1))


def looks_like_phone(value: str) -> bool:
    """7-15 digits with phone punctuation only, written the way phones are: a leading `+` or
    `0`, or separated into groups with at least 9 digits (a bare number is an order or product
    id, and `2024-01-15` is a date)."""
    text = value.strip(" ")
    plus = text.startswith("+")
    if plus:
        text = text[1:]
    digits = 0
    separated = False
    for c in text:
        if c in _DIGITS:
            digits += 1
        elif c in _PHONE_SEPARATORS:
            separated = True
        else:
            return False
    if not 7 <= digits <= 15:
        return False
    first = next((c for c in text if c in _DIGITS), "")
    return plus or first == "0" or (separated and digits >= 9)


def _words(name: str) -> list[str]:
    words: list[str] = []
    word = ""
    for c in name:
        if "a" <= c <= "z" or "0" <= c <= "9":
            word += c
        else:
            if word:
                words.append(word)
            word = ""
    if word:
        words.append(word)
    return words


def _allowed_name(name: str, keep: Iterable[str]) -> bool:
    return name in ALLOW_PARAMS or name in keep or any(name.startswith(p) for p in ALLOW_PREFIXES)


def _denied_name(name: str, deny: Iterable[str]) -> bool:
    deny = tuple(deny)
    return name in deny or any(word in deny for word in _words(name))


def _keep_pairs(text: str, deny: tuple[str, ...], keep: tuple[str, ...]) -> list[str]:
    kept: list[str] = []
    for part in text.split("&"):
        if part == "":
            continue
        raw_name, _, raw_value = part.partition("=")
        name = _decode(raw_name)
        value = _decode(raw_value)
        if name is None or value is None:
            continue
        if looks_like_email(value) or looks_like_phone(value):
            continue
        lowered = _lower(name)
        if not _allowed_name(lowered, keep) and _denied_name(lowered, deny):
            continue
        kept.append(part)
    return kept


def minimise_url(
    url: object,
    anonymized: bool = False,
    deny: Iterable[str] = DENY_PARAMS,
    keep: Iterable[str] = (),
) -> str | None:
    """The URL without personal data in its query, fragment or user info; None for a non-string."""
    if not isinstance(url, str):
        return None
    rest, hash_mark, fragment = url.partition("#")
    base, question, query = rest.partition("?")
    start = base.find("//")
    if start != -1:
        end = base.find("/", start + 2)
        authority = base[start + 2 :] if end == -1 else base[start + 2 : end]
        at = authority.rfind("@")
        if at != -1:
            base = base[: start + 2] + base[start + 3 + at :]
    if anonymized:
        return base
    deny_words = tuple(_lower(d) for d in deny)
    keep_names = tuple(_lower(k) for k in keep)
    out = base
    if question:
        pairs = _keep_pairs(query, deny_words, keep_names)
        if pairs:
            out += "?" + "&".join(pairs)
    if hash_mark:
        if "=" in fragment:
            pairs = _keep_pairs(fragment, deny_words, keep_names)
            if pairs:
                out += "#" + "&".join(pairs)
        else:
            decoded = _decode(fragment)
            if (
                decoded is not None
                and not looks_like_email(decoded)
                and not looks_like_phone(decoded)
            ):
                out += "#" + fragment
    return out
