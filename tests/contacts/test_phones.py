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
