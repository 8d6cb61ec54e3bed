"""PII redaction: applied to customer text before it reaches logs or the event store."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD_CANDIDATE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_PHONE = re.compile(r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])?\d{3,4}[\s.-]?\d{4}(?![\w-])")
_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?\s+(?:[A-Za-z][A-Za-z'.-]*\s+){1,4}"
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|parkway|pkwy)\b\.?"
    r"(?:,?\s*(?:apt|apartment|suite|unit|#)\s*[\w-]+)?",
    re.IGNORECASE,
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    # A long digit run that fails the Luhn check may be a mistyped card: hide it all the same.
    return "[CARD]" if _luhn_valid(digits) else "[NUMBER]"


def _phone(match: re.Match[str]) -> str:
    # Ten or more digits make a phone number; shorter runs are model numbers, sizes or prices.
    return "[PHONE]" if len(re.sub(r"\D", "", match.group(0))) >= 10 else match.group(0)


def redact(text: str) -> str:
    """Replace emails, card numbers (Luhn-checked), phone numbers and street addresses with placeholders."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CARD_CANDIDATE.sub(_card, text)
    text = _PHONE.sub(_phone, text)
    return _ADDRESS.sub("[ADDRESS]", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record passing through."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
