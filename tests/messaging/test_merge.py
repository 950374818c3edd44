"""Merge fields: table tests plus hypothesis properties."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsportal.messaging.merge import (
    MergeError,
    MergeResult,
    fields_in,
    render,
    unknown_fields,
    validate,
)

CONTACT = {"first_name": "Ann", "last_name": "", "custom_1": "VIP", "fields.birthday": "1 May"}


@pytest.mark.parametrize(
    "text, expected, missing",
    [
        ("Hi {{first_name}}!", "Hi Ann!", ()),
        ("Hi {{first_name|there}}!", "Hi Ann!", ()),
        ("Hi {{ first_name }}!", "Hi Ann!", ()),
        ("Hi {{  first_name  |  there  }}!", "Hi Ann!", ()),
        ("Hi {{nickname|there}}!", "Hi there!", ()),  # missing → fallback
        ("Hi {{ nickname | dear friend }}!", "Hi dear friend!", ()),  # fallback trimmed, inner space kept
        ("Hi {{last_name|there}}!", "Hi there!", ()),  # empty → fallback
        ("Hi {{nickname|}}!", "Hi !", ()),  # empty fallback
        ("Hi {{nickname}}!", "Hi !", ("nickname",)),  # missing, no fallback → "" and reported
        ("Hi {{last_name}}!", "Hi !", ("last_name",)),  # empty, no fallback → reported too
        ("{{a}}{{b}}{{a}}", "", ("a", "b")),  # deduplicated, first-appearance order
        ("{{custom_1}} {{fields.birthday}}", "VIP 1 May", ()),
        ("{{x|a|b}}", "a|b", ()),  # fallback may contain |
        ("no fields", "no fields", ()),
        ("", "", ()),
        ("{single} {a|b}", "{single} {a|b}", ()),  # not merge syntax: untouched
        ("{{first_name", "{{first_name", ()),  # malformed: left literal
        ("{{first name}}", "{{first name}}", ()),
        ("{{}}", "{{}}", ()),
    ],
)
def test_render_table(text, expected, missing):
    assert render(text, CONTACT) == MergeResult(expected, missing)


def test_values_containing_braces_stay_literal():
    values = {"first_name": "{Ann|Bob}", "note": "{{first_name}}", "x": "\\{"}
    assert render("{{first_name}} {{note}} {{x}}", values).text == "{Ann|Bob} {{first_name}} \\{"


def test_non_string_values_and_none():
    assert render("{{n}} {{m|none}} {{z}}", {"n": 5, "m": None, "z": 0}) == MergeResult("5 none 0", ())


def test_fields_in_and_unknown_fields():
    text = "{Hi {{first_name}}|Hello} {{ custom_1 | x }} {{first_name|y}} {{fields.birthday}} {{bogus}}"
    assert fields_in(text) == ["first_name", "custom_1", "fields.birthday", "bogus"]
    assert unknown_fields(text, {"first_name", "custom_1", "fields.birthday"}) == ["bogus"]
    assert unknown_fields(text, set()) == ["first_name", "custom_1", "fields.birthday", "bogus"]
    assert fields_in("plain {single}") == []


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("Hi {{first_name", 3, "unclosed merge field"),
        ("Hi {{first_name and {{last_name}}", 3, "unclosed merge field"),
        ("{{ok}} then {{first name}}", 12, "invalid merge field"),
        ("{{}}", 0, "invalid merge field"),
        ("x {{-dash}}", 2, "invalid merge field"),
    ],
)
def test_validate_reports_malformed_tokens_with_position(text, position, words):
    with pytest.raises(MergeError) as err:
        validate(text)
    assert err.value.position == position
    assert words in err.value.message and f"position {position}" in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["", "Hi {{first_name}}", "{{ a | b }} {{c|}}", "{{a}|b}", "{{a|{b}}}", "{x|y}", "}}", "{single}"],
)
def test_validate_accepts_well_formed_text_and_nested_groups(text):
    assert validate(text) is None


_NAMES = st.sampled_from(["first_name", "custom_1", "fields.birthday", "nick"])
_VALUES = st.dictionaries(_NAMES, st.text(alphabet="ab{}|\\ ", max_size=6), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="xy ,!", min_size=1, max_size=4).map(lambda t: ("text", t)),
            st.tuples(_NAMES, st.one_of(st.none(), st.text(alphabet="pq |", max_size=4))).map(
                lambda f: ("field", f)
            ),
        ),
        max_size=6,
    ),
    _VALUES,
)
def test_render_matches_a_reference_and_never_reparses_values(parts, values):
    source, expected, missing = [], [], []
    for kind, part in parts:
        if kind == "text":
            source.append(part)
            expected.append(part)
            continue
        name, fallback = part
        source.append("{{ " + name + ("" if fallback is None else " | " + fallback) + " }}")
        value = values.get(name)
        if value:
            expected.append(value)
        elif fallback is not None:
            expected.append(fallback.strip())
        elif name not in missing:
            missing.append(name)
    text = "".join(source)
    assert render(text, values) == MergeResult("".join(expected), tuple(missing))
    assert fields_in(text) == list(dict.fromkeys(p[1][0] for p in parts if p[0] == "field"))
    validate(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab{}| _", max_size=24), _VALUES)
def test_render_never_crashes_and_validate_points_at_double_brace(text, values):
    result = render(text, values)
    assert isinstance(result.text, str)
    try:
        validate(text)
    except MergeError as err:
        assert text.startswith("{{", err.position)
