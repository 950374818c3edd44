import pytest
from hypothesis import given
from hypothesis import strategies as st

from contacts.phones import InvalidNumber, normalize_number


@pytest.mark.parametrize(
    "raw,region,e164,country,line_type",
    [
        ("0412 345 678", "AU", "+61412345678", "AU", "mobile"),
        (" +61 412-345-678 ", "US", "+61412345678", "AU", "mobile"),
        ("6.1412345678E+10", "US", "+61412345678", "AU", "mobile"),  # Excel's float of 61412345678
        ("61412345678.0", "US", "+61412345678", "AU", "mobile"),
        ("(02) 9876 5432", "AU", "+61298765432", "AU", "fixed_line"),
        ("0061412345678", "GB", "+61412345678", "AU", "mobile"),  # GB dials out with 00
        ("0011 61 412 345 678", "AU", "+61412345678", "AU", "mobile"),  # AU dials out with 0011
        ("07400 123456", "GB", "+447400123456", "GB", "mobile"),
        ("+1 650-253-0000", "AU", "+16502530000", "US", "fixed_line_or_mobile"),
    ],
)
def test_normalizes_national_international_and_excel_forms(raw, region, e164, country, line_type):
    number = normalize_number(raw, region)
    assert (number.e164, number.country, number.line_type) == (e164, country, line_type)


@pytest.mark.parametrize(
    "raw,region,reason",
    [
        ("", "AU", "empty"),
        ("call me", "AU", "not a phone number"),
        ("0412", "AU", "short"),
        ("0412 345 678 999 999", "AU", "long"),
        ("412345678", None, "no country"),
        ("+61 1234", "AU", "short"),
        ("+61 4123 45678 9", "AU", "not a valid number"),
        ("6.14123E+10", "US", "Excel rounded"),  # 61412300000: the last five digits were lost
        ("6141234567.89", "US", "too long"),
        ("0061412345678", "AU", "not a valid number"),  # 00 is not AU's international prefix
    ],
)
def test_invalid_numbers_say_why(raw, region, reason):
    with pytest.raises(InvalidNumber, match=reason):
        normalize_number(raw, region)


@given(st.text(max_size=30), st.sampled_from(["AU", "US", "GB", "DE"]))
def test_never_crashes_and_valid_results_are_e164(raw, region):
    try:
        number = normalize_number(raw, region)
    except InvalidNumber as exc:
        assert str(exc)
    else:
        assert number.e164.startswith("+") and number.e164[1:].isdigit() and 8 <= len(number.e164) <= 16
        assert normalize_number(number.e164, region) == number  # E.164 is a fixed point


# --- The fast path must agree with the full library on everything it accepts ----------------------------------

import phonenumbers  # noqa: E402
from phonenumbers import PhoneNumberFormat  # noqa: E402

from contacts.phones import _fast, _normalize_slow  # noqa: E402

_TYPES = [t for t in range(12)]


def _examples():
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in _TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL):
                yield phonenumbers.format_number(example, fmt), region


def _slow_or_none(text, region):
    try:
        return _normalize_slow(text, region)
    except InvalidNumber:
        return None


def test_fast_path_matches_the_library_on_every_regions_example_numbers():
    checked = taken = 0
    for text, region in _examples():
        for default in (region, "AU", "US"):
            fast = _fast(text, default)
            checked += 1
            if fast is not None:
                taken += 1
                assert fast == _slow_or_none(text, default), (text, default)
    assert taken > checked // 3  # the fast path really carries the common shapes


@given(
    st.sampled_from(["", "+", "+0", "0", "00", "015", "+1", "+44", "+61", "+49", "+39", "+7", "+86", "+375", "1", "8"]),
    st.text(alphabet="0123456789 -().", min_size=4, max_size=16),
    st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)),
)
def test_fast_path_matches_the_library_on_random_digits(prefix, body, region):
    text = prefix + body
    fast = _fast(text, region)
    if fast is not None:
        assert fast == _slow_or_none(text, region), (text, region)


@pytest.mark.parametrize(
    "text,region",
    [
        ("+014706052179", "ID"),  # no country code starts with 0
        ("+3758109962734", "PL"),  # Belarus strips its national prefix 8 even after +375
        ("015155932138", "IL"),  # 015 is Israel's dial-out prefix: this is a call to +1
        ("0301234567.0", "DE"),  # Excel's float shape: the dot is not a separator here
    ],
)
def test_fast_path_leaves_the_cases_it_got_wrong_once_to_the_library(text, region):
    fast = _fast(text, region) if "." not in text else None
    assert fast is None or fast == _slow_or_none(text, region)
    try:
        assert normalize_number(text, region) == _normalize_slow(text, region)
    except InvalidNumber:
        with pytest.raises(InvalidNumber):
            _normalize_slow(text, region)
