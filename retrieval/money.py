"""Currencies as catalogs and shoppers write them: ISO codes, symbols, words, and amounts in text.

One grammar serves the catalog loader, the dialogue's price slots and the grounding check, so that an
amount the assistant can read is an amount it can check, in every currency it can show.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# ISO 4217 codes in use (funds and precious metals left out: no shop prices in them).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
    CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
    HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
    TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a code list reads better as text
)
# Codes that are also English words ("all 3", "top 5", "try 300"): they name a currency only in capitals.
_WORDLIKE_CODES = frozenset({"ALL", "BAM", "BOB", "CUP", "GEL", "MAD", "MOP", "PEN", "RON", "SOS", "TOP", "TRY"})
_DOLLARS = ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "JMD", "TTD", "BSD", "BBD", "BZD", "FJD", "NAD", "XCD")
_RUPEES = ("INR", "PKR", "LKR", "NPR", "MUR", "SCR")
# A sign or word → the currencies it can mean, the usual one first. In a store that prices in one of
# them it means the store's ("$" in a Canadian shop is CAD); elsewhere the usual one.
_MARKERS: dict[str, tuple[str, ...]] = {
    "$": (*_DOLLARS, "MXN", "ARS", "CLP", "COP", "DOP", "UYU"),
    "dollar": _DOLLARS,
    "buck": _DOLLARS,
    "€": ("EUR",),
    "euro": ("EUR",),
    "£": ("GBP", "EGP", "GIP", "FKP", "SHP"),
    "quid": ("GBP",),
    "₹": ("INR",),
    "rs": _RUPEES,
    "rupee": _RUPEES,
    "¥": ("JPY", "CNY"),
    "yen": ("JPY",),
    "yuan": ("CNY",),
    "rmb": ("CNY",),
}
# How money() writes each currency; every other one is written "1,299.00 XYZ".
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹"}

# No shop price reaches a trillion in any currency in use (a car in Indonesian rupiah is about 1e9);
# a larger figure in a message is a typo or a stress test, not a budget.
MAX_PLAUSIBLE_AMOUNT = 1e12

_CODES = "|".join(sorted(ISO_4217 - _WORDLIKE_CODES))
_ANY_CODE = rf"(?:{_CODES}|(?-i:{'|'.join(sorted(_WORDLIKE_CODES))}))"
_SIGNS = "$€£₹¥"
_BEFORE = rf"(?:[{_SIGNS}]|\b(?:rs\.?|{_ANY_CODE})(?![a-z]))"
_AFTER = rf"(?:[{_SIGNS}]|(?:dollars?|bucks?|euros?|quid|rupees?|rs|yen|yuan|rmb|{_ANY_CODE})\b)"
# Only at the start of a number (not "00" inside "1000", not "5" in "0.5"), and atomic: a figure is
# never cut short to make a match. Both keep matching linear on a message made of digits.
_NUMBER = r"(?<![\d,])(?<!\d\.)(?>(?:\d{1,3}(?:,\d{2,3})+|\d+)(?:\.\d+)?)"
_SCALE = r"(?:k|thousand|lakhs?|lacs?)\b"
_SCALES = {"k": 1e3, "thousand": 1e3, "lakh": 1e5, "lakhs": 1e5, "lac": 1e5, "lacs": 1e5}
# A bare number followed by a unit is a size or a quantity, not money: "55 inch", "500 ml", "2kg", "50%".
_UNIT = (
    r"-?\s*(?:%|\"|”|''|(?:inch(?:es)?|cm|mm|ft|feet|gb|tb|mb|hz|w|watts?|v|volts?|mah|mp|kg|kgs|g|gm|gms|"
    r"grams?|lbs?|pounds?|oz|ml|l|ltrs?|litres?|liters?|pcs|pieces?|packs?)\b)"
)
_FIGURE = rf"{_NUMBER}(?:\s*{_SCALE})?"
AMOUNT = rf"(?:{_BEFORE}\s*{_FIGURE}(?:\s*{_AFTER})?|{_FIGURE}(?!{_UNIT})(?:\s*{_AFTER})?)(?!\w)"
"""An amount with or without its currency: "$12", "300 rupees", "USD 12", "2k", "1,500" (no groups)."""
PRICED_AMOUNT = rf"(?:{_BEFORE}\s*{_FIGURE}(?:\s*{_AFTER})?|{_FIGURE}(?!{_UNIT})\s*{_AFTER})(?!\w)"
"""An amount written with its currency (not a bare "12")."""
_FIND = re.compile(AMOUNT, re.I)
# Takes one found amount apart.
_PARTS = re.compile(
    rf"(?P<before>{_BEFORE})?\s*(?P<number>[\d,.]+)\s*(?P<scale>{_SCALE})?\s*(?P<after>{_AFTER})?", re.I
)


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str | None  # None: no sign, word or code with the figure


def currency_code(raw: str, store_currency: str = "USD") -> str | None:
    """The ISO code a sign, word or code names (``"$"`` → ``"USD"``, ``"Rs."`` → ``"INR"``), else None."""
    value = raw.strip().rstrip(".").casefold()
    if value.upper() in ISO_4217:
        return value.upper()
    marker = value[:-1] if value.endswith("s") and value[:-1] in _MARKERS else value
    candidates = _MARKERS.get(marker)
    if candidates is None:
        return None
    return store_currency if store_currency in candidates else candidates[0]


def plausible(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= MAX_PLAUSIBLE_AMOUNT


def read_amount(text: str, store_currency: str = "USD") -> Amount | None:
    """The amount ``text`` (a match of :data:`AMOUNT`) says; None for a figure no price can be."""
    parts = _PARTS.fullmatch(text.strip())
    if parts is None:
        return None
    value = float(parts.group("number").replace(",", ""))
    if parts.group("scale"):
        value *= _SCALES[parts.group("scale").lower()]
    marker = parts.group("before") or parts.group("after")
    currency = currency_code(marker, store_currency) if marker else None
    return Amount(value, currency) if plausible(value) else None


def priced_amounts(text: str, store_currency: str = "USD") -> list[Amount]:
    """Every amount written with its currency in ``text``; implausible figures are left out."""
    found = (read_amount(match.group(), store_currency) for match in _FIND.finditer(text))
    return [amount for amount in found if amount is not None and amount.currency is not None]


def format_money(amount: float, currency: str, *, exact: bool = False) -> str:
    """₹1,299.00, $5.00, €12.50, £3.00, else "1,299.00 CAD".

    ``exact``: as few decimals as the amount needs ("$500", "$49.96"), for limits the customer set.
    """
    if exact and amount == int(amount):
        figure = f"{amount:,.0f}"
    elif exact:
        figure = f"{amount:,.6f}".rstrip("0")
        figure += "0" * (2 - len(figure.partition(".")[2]))
    else:
        figure = f"{amount:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{figure}" if symbol else f"{figure} {currency}"
