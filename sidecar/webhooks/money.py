"""Exact money: ``Decimal`` from the payload's text, quantized to the currency's minor units.

Payload bodies are parsed with ``parse_float=Decimal``, so no amount ever passes through a
binary float before it is final. The one conversion to a JSON number happens last
(``json_number``): ``float(Decimal("94.80"))`` is the double nearest to 94.8, whose shortest
repr is ``94.8`` again, so the envelope carries exactly the decimal that was computed.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 2 (the default).
_ISO_EXPONENT: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
# Stripe's "zero-decimal" currencies: their amounts are already whole units. Every other
# currency is sent in hundredths, except the three-decimal ones (docs.stripe.com/currencies).
_STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
_STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def is_currency(code: str) -> bool:
    return bool(_CURRENCY.fullmatch(code))


def minor_units(currency: str) -> int:
    return _ISO_EXPONENT.get(currency, 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (what shops print on receipts)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def parse_amount(value: object) -> Decimal | None:
    """A decimal from a JSON amount: text like "59.90", an integer, or a JSON fraction already
    parsed as Decimal. None when it is none of those (the caller names the field)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str) and _AMOUNT.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the regex admits only valid text
            return None
    return None


def from_stripe_minor(amount: int, currency: str) -> Decimal:
    """Stripe integer amounts in the smallest unit -> a decimal amount of ``currency``."""
    if currency in _STRIPE_ZERO_DECIMAL:
        exponent = 0
    elif currency in _STRIPE_THREE_DECIMAL:
        exponent = 3
    else:
        exponent = 2
    return quantize(Decimal(amount).scaleb(-exponent), currency)


def json_number(amount: Decimal) -> int | float:
    """The envelope's JSON number for a quantized amount (integer for zero-decimal currencies)."""
    exponent = amount.as_tuple().exponent  # an int for finite amounts ('n', 'N', 'F' otherwise)
    if amount == amount.to_integral_value() and isinstance(exponent, int) and exponent >= 0:
        return int(amount)
    return float(amount)
