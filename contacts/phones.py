"""Phone numbers in, E.164 out — or a reason. Pure: no models, so the importer can run it in worker processes.

Every path that takes a number (UI, API, CSV import) goes through `normalize_number`, so they agree.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

_TYPE_NAMES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# Excel turns long digit strings into floats: "6.1412345678E+10" or "61412345678.0".
_EXCEL_FLOAT = re.compile(r"^\+?\d+(\.\d+)?[eE]\+?\d+$|^\d{6,}\.0+$")
_NOT_A_NUMBER = re.compile(r"[A-Za-z]{2,}")


class InvalidNumber(ValueError):
    """`str(exc)` is the reason shown to the user."""


@dataclass(frozen=True)
class Number:
    e164: str
    country: str
    line_type: str


def _undo_excel(raw: str) -> str:
    if not _EXCEL_FLOAT.match(raw):
        return raw
    try:
        value = Decimal(raw.lstrip("+"))
    except InvalidOperation:
        return raw
    digits = str(int(value)) if value == value.to_integral_value() else ""
    mantissa = re.split(r"[eE]", raw.lstrip("+"))[0].replace(".", "").lstrip("0")
    # A CSV keeps what Excel displayed: a mantissa shorter than the number means its last digits are gone.
    if not digits or ("e" in raw.lower() and len(mantissa) < len(digits)):
        raise InvalidNumber("looks like a number Excel rounded; the digits are lost — format the column as text")
    # Excel drops a leading "+" and any leading zero; a long run of digits is most likely international.
    return ("+" + digits) if len(digits) > 10 or raw.startswith("+") else digits


@lru_cache(maxsize=262_144)
def normalize_number(raw: str, region: str) -> Number:
    """E.164, country and line type of `raw`, reading national formats in `region`. Raises InvalidNumber."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber("phone number is empty")
    if _NOT_A_NUMBER.search(text):
        raise InvalidNumber("not a phone number")
    text = _undo_excel(text)
    try:
        parsed = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidNumber("no country: write it as +<country code> or choose a default country") from None
        if exc.error_type == phonenumbers.NumberParseException.TOO_SHORT_NSN:
            raise InvalidNumber("too short to be a phone number") from None
        if exc.error_type == phonenumbers.NumberParseException.TOO_LONG:
            raise InvalidNumber("too long to be a phone number") from None
        raise InvalidNumber("not a phone number") from None
    number_type = phonenumbers.number_type(parsed)
    country = phonenumbers.region_code_for_number(parsed)
    if number_type == PhoneNumberType.UNKNOWN or not country or country == "001":
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        if possible == phonenumbers.ValidationResult.TOO_SHORT:
            raise InvalidNumber("too short for its country")
        if possible == phonenumbers.ValidationResult.TOO_LONG:
            raise InvalidNumber("too long for its country")
        raise InvalidNumber("not a valid number for its country")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return Number(e164=e164, country=country, line_type=_TYPE_NAMES.get(number_type, "unknown"))
