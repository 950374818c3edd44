"""Phone numbers in, E.164 out — or a reason. Pure: no models, so the importer can run it in worker processes.

Every path that takes a number (UI, API, CSV import) goes through `normalize_number`, so they agree.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import _number_type_helper

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


# --- Fast path ------------------------------------------------------------------------------------------
# `phonenumbers.parse` costs ~25 µs a number, most of a million-row import. The plain shapes people type
# (+<country code><digits>, or a national number behind its region's ordinary prefix) are read here with
# the same metadata and the same validity test; anything else, and anything this path would reject, goes
# to the full library, which alone words the reasons. tests/contacts/test_phones.py holds the two paths equal.
_SEPARATORS = str.maketrans("", "", " -().\u00a0\t/")
_REGIONS_BY_CODE = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


@lru_cache(maxsize=512)
def _national_prefix_rule(region: str):
    """(metadata, prefix, compiled prefix-for-parsing) where a national prefix is simply stripped, else None."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or not metadata.national_prefix or metadata.national_prefix_transform_rule:
        return None
    for_parsing = re.compile(metadata.national_prefix_for_parsing or re.escape(metadata.national_prefix))
    dial_out = re.compile(metadata.international_prefix) if metadata.international_prefix else None
    return metadata, metadata.national_prefix, for_parsing, dial_out


@lru_cache(maxsize=512)
def _prefix_after_country_code(country_code: int):
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    # Only a non-empty match strips anything.
    return re.compile(f"(?:{pattern})(?<=.)") if pattern else None


def _fast(text: str, region: str | None) -> Number | None:
    compact = text.translate(_SEPARATORS)
    if compact[:1] == "+":
        digits = compact[1:]
        if not (digits.isascii() and digits.isdigit()) or digits[:1] == "0":
            return None  # no country code starts with 0
        for size in (1, 2, 3):
            country_code = int(digits[:size] or 0)
            if country_code in _REGIONS_BY_CODE:
                national = digits[size:]
                break
        else:
            return None
        # The library strips a national prefix even after a country code (BY's 8…): leave those to it.
        prefix_pattern = _prefix_after_country_code(country_code)
        if prefix_pattern is not None and prefix_pattern.match(national):
            return None
    else:
        rule = _national_prefix_rule(region) if region else None
        if rule is None or not (compact.isascii() and compact.isdigit()):
            return None
        metadata, prefix, for_parsing, dial_out = rule
        if dial_out is not None and dial_out.match(compact):
            return None  # it starts like a call abroad (Israel's 015…): the library reads those
        stripped = for_parsing.match(compact)
        if stripped is None or stripped.group(0) != prefix or any(stripped.groups()):
            return None
        country_code, national = metadata.country_code, compact[len(prefix):]
    if national[:1] == "0" or not 2 <= len(national) <= 17:
        return None  # leading zeros kept in the number (Italy) and odd lengths: the library decides
    country, number_type = _region_and_type(country_code, national)
    if not country or country == "001" or number_type == PhoneNumberType.UNKNOWN:
        return None
    return Number(e164=f"+{country_code}{national}", country=country, line_type=_TYPE_NAMES.get(number_type, "unknown"))


def _region_and_type(country_code: int, national: str):
    """The library's region choice for a shared country code (+1, +44, +61…), keeping the type it computes."""
    regions = _REGIONS_BY_CODE[country_code]
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        if len(regions) == 1 or (metadata.leading_digits is not None and _leading(metadata.leading_digits).match(national)):
            return region, _number_type_helper(national, metadata)
        if metadata.leading_digits is None:
            number_type = _number_type_helper(national, metadata)
            if number_type != PhoneNumberType.UNKNOWN:
                return region, number_type
    return None, PhoneNumberType.UNKNOWN


@lru_cache(maxsize=256)
def _leading(pattern: str):
    return re.compile(pattern)


@lru_cache(maxsize=262_144)
def normalize_number(raw: str, region: str) -> Number:
    """E.164, country and line type of `raw`, reading national formats in `region`. Raises InvalidNumber."""
    text = (raw or "").strip()
    if text and not _EXCEL_FLOAT.match(text):
        fast = _fast(text, region.upper() if region else None)
        if fast is not None:
            return fast
    return _normalize_slow(text, region)


def _normalize_slow(text: str, region: str) -> Number:
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
