"""Encoding and segments (PRODUCT.md §3, REFERENCE.md "Segments" and "Smart encoding")."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsportal.messaging.encoding import (
    GSM_7,
    GSM_BASIC,
    GSM_EXTENSION,
    SMART_REPLACEMENTS,
    UCS_2,
    SegmentInfo,
    analyze,
    encoding_of,
    is_gsm,
    segment_count,
    smart_encode,
)

EURO = "\u20ac"
GRIN = "\U0001F600"  # 😀, outside the BMP: 2 UTF-16 units
FLAG_AU = "\U0001F1E6\U0001F1FA"  # 🇦🇺: two regional indicators, 4 units
ZHE = "\u0436"  # ж, 1 UTF-16 unit, not GSM


def units(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def septets(s: str) -> int:
    return sum(2 if c in GSM_EXTENSION else 1 for c in s)


def size(s: str, encoding: str) -> int:
    return septets(s) if encoding == GSM_7 else units(s)


def naive_parts(body: str, encoding: str) -> list[str]:
    """Obvious character-by-character greedy split, the oracle for the fast one."""
    if not body:
        return []
    single, multi = (160, 153) if encoding == GSM_7 else (70, 67)
    if size(body, encoding) <= single:
        return [body]
    parts, current, used = [], "", 0
    for c in body:
        w = size(c, encoding)
        if used + w > multi:
            parts.append(current)
            current, used = "", 0
        current += c
        used += w
    parts.append(current)
    return parts


def check(info: SegmentInfo, body: str) -> None:
    """Invariants every analysis must satisfy."""
    assert "".join(info.parts) == body
    assert info.segments == len(info.parts) == segment_count(body)
    assert info.encoding == encoding_of(body)
    assert info.length == size(body, info.encoding)
    limit = info.per_segment
    for part in info.parts:
        assert 0 < size(part, info.encoding) <= limit
        part.encode("utf-16-le", errors="strict")  # a whole str: no half surrogate pair
    if info.parts:
        assert info.remaining == limit - size(info.parts[-1], info.encoding)
    # Each boundary falls where the next character would not have fitted.
    for part, nxt in zip(info.parts, info.parts[1:]):
        assert size(part, info.encoding) + size(nxt[0], info.encoding) > limit
    if info.encoding == GSM_7:
        assert info.unicode_chars == ()
    else:
        assert info.unicode_chars
        assert len(set(info.unicode_chars)) == len(info.unicode_chars)
        assert all(c not in GSM_BASIC and c not in GSM_EXTENSION for c in info.unicode_chars)
        assert set(info.unicode_chars) == {c for c in body if c not in GSM_BASIC | GSM_EXTENSION}
    assert info.parts == tuple(naive_parts(body, info.encoding))


# --- table tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, encoding, length, segments, per_segment, part_sizes",
    [
        pytest.param("a" * 160, GSM_7, 160, 1, 160, [160], id="160 GSM"),
        pytest.param("a" * 161, GSM_7, 161, 2, 153, [153, 8], id="161 GSM"),
        pytest.param("a" * 159 + EURO, GSM_7, 161, 2, 153, [153, 8], id="159 + euro = 161 septets"),
        pytest.param("a" * 158 + EURO, GSM_7, 160, 1, 160, [160], id="158 + euro = 160 septets"),
        pytest.param("a" * 152 + EURO + "a" * 10, GSM_7, 164, 2, 153, [152, 12], id="euro straddles 153"),
        pytest.param("a" * 152 + EURO + "a" * 152, GSM_7, 306, 3, 153, [152, 153, 1], id="straddle adds a part"),
        pytest.param("a" * 151 + EURO + "a" * 153, GSM_7, 306, 2, 153, [153, 153], id="euro ends part 1"),
        pytest.param("a" * 306, GSM_7, 306, 2, 153, [153, 153], id="306 plain"),
        pytest.param("a" * 307, GSM_7, 307, 3, 153, [153, 153, 1], id="307 plain"),
        pytest.param(EURO * 80, GSM_7, 160, 1, 160, [160], id="80 euros"),
        pytest.param(EURO * 81, GSM_7, 162, 2, 153, [152, 10], id="81 euros"),
        pytest.param(ZHE * 70, UCS_2, 70, 1, 70, [70], id="70 UCS-2"),
        pytest.param(ZHE * 71, UCS_2, 71, 2, 67, [67, 4], id="71 UCS-2"),
        pytest.param(ZHE * 134, UCS_2, 134, 2, 67, [67, 67], id="134 UCS-2"),
        pytest.param(ZHE * 135, UCS_2, 135, 3, 67, [67, 67, 1], id="135 UCS-2"),
        pytest.param(ZHE * 66 + GRIN + ZHE * 10, UCS_2, 78, 2, 67, [66, 12], id="emoji straddles 67"),
        pytest.param(ZHE * 66 + GRIN + ZHE * 66, UCS_2, 134, 3, 67, [66, 67, 1], id="emoji move adds a part"),
        pytest.param(ZHE * 65 + GRIN + ZHE * 3, UCS_2, 70, 1, 70, [70], id="emoji within 70"),
        pytest.param(GRIN * 35, UCS_2, 70, 1, 70, [70], id="35 emoji"),
        pytest.param(GRIN * 36, UCS_2, 72, 2, 67, [66, 6], id="36 emoji"),
        pytest.param(FLAG_AU, UCS_2, 4, 1, 70, [4], id="flag is 4 units"),
        pytest.param(ZHE + EURO, UCS_2, 2, 1, 70, [2], id="euro is 1 unit in UCS-2"),
        pytest.param("a\nb\rc", GSM_7, 5, 1, 160, [5], id="CR LF are basic"),
        pytest.param("\f", GSM_7, 2, 1, 160, [2], id="form feed is extension"),
    ],
)
def test_table(body, encoding, length, segments, per_segment, part_sizes):
    info = analyze(body)
    assert info.encoding == encoding
    assert info.length == length
    assert info.segments == segments
    assert info.per_segment == per_segment
    assert [size(p, encoding) for p in info.parts] == part_sizes
    assert info.remaining == per_segment - part_sizes[-1]
    check(info, body)


def test_euro_straddling_boundary_moves_whole():
    info = analyze("a" * 152 + EURO + "a" * 10)
    assert info.parts[0] == "a" * 152
    assert info.parts[1] == EURO + "a" * 10


def test_emoji_straddling_boundary_moves_whole():
    info = analyze(ZHE * 66 + GRIN + ZHE * 10)
    assert info.parts[0] == ZHE * 66
    assert units(info.parts[0]) == 66
    assert info.parts[1] == GRIN + ZHE * 10


def test_flag_and_euro_in_ucs2():
    assert analyze(FLAG_AU).length == 4
    assert analyze(FLAG_AU).unicode_chars == ("\U0001F1E6", "\U0001F1FA")
    info = analyze(EURO + ZHE)
    assert info.encoding == UCS_2 and info.length == 2
    assert info.unicode_chars == (ZHE,)  # € is GSM (extension): it did not force UCS-2


def test_every_gsm_character_is_gsm():
    assert analyze("".join(sorted(GSM_BASIC))).length == len(GSM_BASIC)
    assert analyze("".join(sorted(GSM_EXTENSION))).length == 2 * len(GSM_EXTENSION)
    for c in GSM_BASIC | GSM_EXTENSION:
        assert encoding_of(c) == GSM_7, repr(c)


@pytest.mark.parametrize("char", ["`", "\u201c", "\t", "\x1b", "\x00", "\x7f", "\u00e7", "\u00e1", GRIN])
def test_non_gsm_characters_force_ucs2_and_are_reported(char):
    info = analyze("Hello " + char + " there " + char)
    assert info.encoding == UCS_2
    assert info.unicode_chars == tuple(dict.fromkeys(char))


def test_only_backtick_and_control_characters_are_outside_gsm_in_ascii():
    outside = [chr(c) for c in range(128) if encoding_of(chr(c)) == UCS_2]
    assert [c for c in outside if c.isprintable()] == ["`"]
    assert all(ord(c) < 32 or ord(c) == 127 for c in outside if c != "`")
    assert "\n" not in outside and "\r" not in outside and "\f" not in outside


def test_unicode_chars_in_first_appearance_order():
    info = analyze("it\u2019s `fine` \u201cok\u201d \u2019")
    assert info.unicode_chars == ("\u2019", "`", "\u201c", "\u201d")


def test_empty_body_is_zero_segments():
    info = analyze("")
    assert info == SegmentInfo(GSM_7, 0, 0, 160, 160, (), ())
    assert segment_count("") == 0
    assert encoding_of("") == GSM_7


def test_is_gsm():
    assert is_gsm("Hi {name} €5")
    assert not is_gsm("Hi `name`")


# --- smart encoding -----------------------------------------------------------------------------------


def test_smart_encode_quotes_dashes_ellipsis():
    new, replaced = smart_encode("\u201cHi\u201d \u2014 it\u2019s\u2026")
    assert new == "\"Hi\" - it's..."
    assert encoding_of(new) == GSM_7
    assert replaced == [("\u201c", '"'), ("\u201d", '"'), ("\u2014", "-"), ("\u2019", "'"), ("\u2026", "...")]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("\u00abbonjour\u00bb", '"bonjour"'),
        ("\u2018a\u2019 \u00b4b\u00b4 `c`", "'a' 'b' 'c'"),
        ("1\u20132", "1-2"),
        ("a\u00a0b\u2000c\u200ad\u202fe\u205ff\u3000g", "a b c d e f g"),
        ("a\u200bb\ufeffc\u2060d", "abcd"),
        ("tab\there", "tab here"),
        ("line\u2028next", "line\nnext"),
        ("a\u200db", "ab"),  # a joiner that joins nothing
    ],
)
def test_smart_encode_table(body, expected):
    new, replaced = smart_encode(body)
    assert new == expected
    assert encoding_of(new) == GSM_7
    assert replaced


def test_smart_encode_keeps_joiners_in_emoji_sequences():
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    new, replaced = smart_encode(family + " \u201cx\u201d")
    assert new == family + ' "x"'
    assert replaced == [("\u201c", '"'), ("\u201d", '"')]


def test_smart_encode_leaves_gsm_and_unmappable_alone():
    assert smart_encode("Hi {name}, \u20ac5 [ok] ~ ^ | \\") == ("Hi {name}, \u20ac5 [ok] ~ ^ | \\", [])
    assert smart_encode("\u043f\u0440\u0438\u0432\u0435\u0442") == ("\u043f\u0440\u0438\u0432\u0435\u0442", [])
    assert smart_encode("\u2022 item") == ("\u2022 item", [])  # bullets are not look-alikes
    assert smart_encode("") == ("", [])


def test_smart_replacements_map_non_gsm_to_gsm():
    for source, target in SMART_REPLACEMENTS.items():
        assert source not in GSM_BASIC and source not in GSM_EXTENSION, repr(source)
        assert all(c in GSM_BASIC for c in target), repr(target)


# --- properties ---------------------------------------------------------------------------------------

GSM_CHARS = sorted(GSM_BASIC | GSM_EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700)
ext_heavy = st.text(alphabet=st.sampled_from(["a", "b", EURO, "{", "\\"]), max_size=700)
any_text = st.text(max_size=400)
bmp_and_astral = st.text(alphabet=st.sampled_from([ZHE, "a", EURO, GRIN, "\U0001F1E6", "\U00010348"]), max_size=400)
look_alike_text = st.text(
    alphabet=st.sampled_from(GSM_CHARS + sorted(SMART_REPLACEMENTS) + ["\u200c", "\u200d"]), max_size=300
)


@settings(max_examples=300)
@given(st.one_of(gsm_text, ext_heavy, any_text, bmp_and_astral))
def test_analysis_invariants(body):
    check(analyze(body), body)


@settings(max_examples=300)
@given(gsm_text)
def test_gsm_bodies_are_gsm(body):
    assert encoding_of(body) == GSM_7
    assert analyze(body).length == septets(body)


@given(st.integers(min_value=0, max_value=2000))
def test_plain_gsm_segment_arithmetic(n):
    expected = 0 if n == 0 else 1 if n <= 160 else math.ceil(n / 153)
    assert segment_count("a" * n) == analyze("a" * n).segments == expected


@given(st.integers(min_value=0, max_value=800))
def test_plain_ucs2_segment_arithmetic(n):
    body = "x" + ZHE * n
    expected = 1 if n + 1 <= 70 else math.ceil((n + 1) / 67)
    assert segment_count(body) == analyze(body).segments == expected


@settings(max_examples=300)
@given(any_text)
def test_smart_encode_properties(body):
    new, replaced = smart_encode(body)
    if encoding_of(body) == GSM_7:
        assert (new, replaced) == (body, [])
    assert (new == body) == (replaced == [])
    for source, target in replaced:
        assert source in body and source not in new
    assert smart_encode(new) == (new, [])  # idempotent


@settings(max_examples=300)
@given(look_alike_text)
def test_smart_encode_makes_look_alike_bodies_gsm(body):
    new, _ = smart_encode(body)
    assert encoding_of(new) == GSM_7
