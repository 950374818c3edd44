"""Spintax: table tests of known cases plus hypothesis properties over a small template grammar."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smsportal.messaging import merge, spintax
from smsportal.messaging.spintax import Choice, Field, SpintaxError, Text, parse, seed_for

ROOT = Path(__file__).resolve().parents[2]


# --- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, count",
    [
        ("{a|b{c|d}}", 3),
        ("{a|b} {c|d|e}", 6),
        ("{a|{b|c}{d|e}}", 5),
        ("{|x}", 2),
        ("{|}", 2),
        ("{a}", 1),
        ("no groups here", 1),
        ("", 1),
        ("{a|a}", 2),  # distinct choice paths, not distinct strings
        ("{Hi|Hello} {{first_name|there}}", 2),
        ("{Hi {{first_name}}|Hello}", 2),
        ("{{a}|b}", 2),  # a group nested first in a group, not a merge token
        ("{a|b{c|d{e|f|g}}} {x|y}", (1 + 1 + 3) * 2),
        (r"\{a|b\}", 1),
        ("a|b", 1),  # | outside a group is literal
    ],
)
def test_count_from_tree(template, count):
    assert parse(template).count() == count


def test_count_is_exact_when_astronomical():
    t = parse("{a|b}" * 200)
    assert t.count() == 2**200
    text, key = t.render(7)  # still renders without enumerating
    assert len(text) == 200 and key.count(".") == 199


def test_count_matches_enumeration_for_nested_cases():
    for template in ["{a|b{c|d}}", "{a|{b|c}{d|e}}", "{|x}{y|}", "{a|b{c|{d|e}f}}{g|h}"]:
        t = parse(template)
        bodies = list(t.iter_bodies())
        assert len(bodies) == t.count()
        assert len({key for _, key in bodies}) == t.count()


# --- escapes, literals, merge tokens --------------------------------------------------------------


@pytest.mark.parametrize(
    "template, rendered",
    [
        (r"\{a|b\}", "{a|b}"),
        (r"\{a\|b\}", "{a|b}"),
        (r"100\\", "100\\"),
        (r"a\\{b}", "a\\b"),  # \\ is a literal backslash; the { after it opens a group
        (r"C:\temp\new", r"C:\temp\new"),  # backslash before another character is literal
        ("end\\", "end\\"),
        ("a|b", "a|b"),
        ("{{first_name}}", "{{first_name}}"),
        ("{{ first_name | there }}", "{{ first_name | there }}"),
        ("{x|x}", "x"),
    ],
)
def test_escapes_and_literals_render_literally(template, rendered):
    t = parse(template)
    assert t.render(1)[0] == rendered
    assert t.variants() == [rendered]


def test_escaped_braces_do_not_create_groups():
    t = parse(r"price \{ten\|eleven\} {a|b}")
    assert t.count() == 2
    assert [node for node in t.nodes if isinstance(node, Choice)][0].position == 22
    assert t.variants() == ["price {ten|eleven} a", "price {ten|eleven} b"]


def test_merge_tokens_inside_and_outside_groups_survive_untouched():
    t = parse("{Hi {{first_name}}|Hello} {{last_name|friend}}, {{ fields.birthday }}!")
    assert t.count() == 2
    assert set(t.variants()) == {
        "Hi {{first_name}} {{last_name|friend}}, {{ fields.birthday }}!",
        "Hello {{last_name|friend}}, {{ fields.birthday }}!",
    }
    assert t.fields == ("first_name", "last_name", "fields.birthday")
    group = t.nodes[0]
    assert isinstance(group, Choice)
    assert group.alternatives[0] == (Text("Hi "), Field("{{first_name}}", "first_name", None, 4))


def test_tree_shape():
    t = parse("x{a||b{c|d}}")
    assert t.nodes == (
        Text("x"),
        Choice(((Text("a"),), (), (Text("b"), Choice(((Text("c"),), (Text("d"),)), 6))), 1),
    )


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, position, words",
    [
        ("Hi {there", 3, "unclosed { at position 3"),
        ("Hi there}", 8, "unexpected } at position 8"),
        ("{a|{b}", 0, "unclosed { at position 0"),
        ("{a|b}}", 5, "unexpected } at position 5"),
        ("{Hi|Hello} {there|you {x|y}", 11, "unclosed { at position 11"),
        ("}", 0, "unexpected } at position 0"),
        ("Hi {{first_name", 3, "merge field"),
        ("Hi {{first_name}", 3, "unclosed { at position 3"),
        (r"\{a}", 3, "unexpected }"),
        ("{a|\\}", 0, "unclosed {"),
    ],
)
def test_unbalanced_braces_report_the_position(template, position, words):
    with pytest.raises(SpintaxError) as err:
        parse(template)
    assert err.value.position == position
    assert words in str(err.value)
    assert isinstance(err.value, ValueError)


def test_nesting_depth_is_capped():
    with pytest.raises(SpintaxError) as err:
        parse("{x" * 150 + "a" + "}" * 150)
    assert err.value.position == 2 * spintax.MAX_DEPTH
    assert parse("{x" * 50 + "{a|b}" + "}" * 50).count() == 2


# --- determinism, keys, uniformity --------------------------------------------------------------


def test_same_seed_same_body_and_key():
    t = parse("{Hi|Hello|Hey} {there|friend} {a|b{c|d}}")
    for seed in [0, 1, 12345, 2**64 + 3, "abc", b"abc", seed_for(9, 42)]:
        assert t.render(seed) == t.render(seed) == parse(t.source).render(seed)


def test_variant_key_identifies_the_path():
    t = parse("{a|b{c|d}}")
    expected = {"a": "0", "bc": "1.0", "bd": "1.1"}
    for seed in range(200):
        text, key = t.render(seed)
        assert expected[text] == key
    assert parse("plain").render(5) == ("plain", "")


def test_render_agrees_with_body_by_key():
    t = parse("{x|{y|z}{1|2|3}} {p|q}")
    by_key = {key: text for text, key in t.iter_bodies()}
    for seed in range(300):
        text, key = t.render(seed)
        assert by_key[key] == text


def test_seed_for_is_stable_and_type_tolerant():
    assert seed_for(5, 7) == seed_for("5", "7")
    assert seed_for(5, 7) != seed_for(7, 5)
    assert seed_for(1, 23) != seed_for(12, 3)
    assert 0 <= seed_for(1, 1) < 2**64


def test_choice_does_not_depend_on_the_process_or_pythonhashseed():
    t = parse("{Hi|Hello|Hey} {a|b{c|d}} {x|y|z|w}")
    seeds = [seed_for(c, k) for c in range(3) for k in range(20)] + ["s", b"b"]
    here = [t.render(s) for s in seeds]
    code = (
        "import sys, json; from smsportal.messaging.spintax import parse, seed_for\n"
        "t = parse(sys.argv[1])\n"
        "seeds = [seed_for(c, k) for c in range(3) for k in range(20)] + ['s', b'b']\n"
        "print(json.dumps([t.render(s) for s in seeds]))\n"
    )
    for hashseed in ["1", "987654"]:
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", code, t.source], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
        assert [tuple(pair) for pair in json.loads(out)] == here


def test_pinned_outputs_do_not_change_across_releases():
    # If this fails the choice algorithm changed: stored messages would no longer match their seed.
    t = parse("{a|b|c}{d|e}")
    got = [t.render(seed)[1] for seed in range(6)]
    assert got == PINNED_KEYS
    assert seed_for(1, 2) == 5490572186992893816
    assert seed_for("camp-uuid", "c-9") == 8746548518703591171


PINNED_KEYS = ["0.0", "0.0", "2.1", "0.0", "1.0", "1.1"]


def test_uniform_over_alternatives():
    t = parse("{a|b|c}")
    counts = Counter(t.render(seed)[0] for seed in range(3000))
    for alt in "abc":
        assert 0.25 <= counts[alt] / 3000 <= 0.42, counts


def test_uniform_at_each_group_when_nested():
    t = parse("{a|b{c|d}}")
    counts = Counter(t.render(seed_for(1, contact))[0] for contact in range(4000))
    assert 0.43 <= counts["a"] / 4000 <= 0.57, counts  # per group, not per path
    assert 0.40 <= counts["bc"] / (counts["bc"] + counts["bd"]) <= 0.60, counts


def test_variants_preview():
    assert parse("{a|b} {c|d|e}").variants(limit=4) == ["a c", "a d", "a e", "b c"]
    assert parse("{a|a|b}").variants() == ["a", "b"]
    assert parse("{x|y}").variants(limit=0) == []
    big = parse("{a|b}" * 40)
    preview = big.variants(limit=20)
    assert len(preview) == 20 and len(set(preview)) == 20
    assert len({v[0] for v in preview}) == 2  # spread across the space, not only the last group


def test_parse_is_cached():
    assert parse("{cache|me}") is parse("{cache|me}")


# --- properties over a small grammar --------------------------------------------------------------

_LITERAL = st.text(alphabet="ab {}|\\", min_size=1, max_size=4)
_FIELD = st.tuples(
    st.sampled_from(["first_name", "custom_1", "fields.birthday"]),
    st.one_of(st.none(), st.sampled_from(["", "there", "a|b"])),
)


def _seq(children):
    return st.lists(children, max_size=4)


_NODE = st.recursive(
    st.one_of(st.tuples(st.just("text"), _LITERAL), st.tuples(st.just("field"), _FIELD)),
    lambda children: st.tuples(st.just("group"), st.lists(_seq(children), min_size=1, max_size=3)),
    max_leaves=12,
)
_TEMPLATE = _seq(_NODE)


def _escape(text):
    return "".join("\\" + c if c in "\\{}|" else c for c in text)


def _serialize(seq, nested_starts, out):
    for node in seq:
        kind = node[0]
        if kind == "text":
            out.append(_escape(node[1]))
        elif kind == "field":
            name, fallback = node[1]
            out.append("{{" + name + ("" if fallback is None else "|" + fallback) + "}}")
        else:
            start = sum(map(len, out))
            nested_starts.append(start)
            out.append("{")
            for i, alt in enumerate(node[1]):
                if i:
                    out.append("|")
                _serialize(alt, nested_starts, out)
            out.append("}")


def _field_raw(node):
    name, fallback = node[1]
    return "{{" + name + ("" if fallback is None else "|" + fallback) + "}}"


def _paths(seq):
    """Reference enumeration: (text, key-tuple) for every path, first group varying slowest."""
    results = [("", ())]
    for node in seq:
        if node[0] == "text":
            options = [(node[1], ())]
        elif node[0] == "field":
            options = [(_field_raw(node), ())]
        else:
            options = [(t, (i,) + k) for i, alt in enumerate(node[1]) for t, k in _paths(alt)]
        results = [(t1 + t2, k1 + k2) for t1, k1 in results for t2, k2 in options]
    return results


def _build(tree):
    out, starts = [], []
    _serialize(tree, starts, out)
    source = "".join(out)
    # "{{" from a group opening right inside a group may spell a merge token ("{{a|b}}"): documented
    # ambiguity, merge wins; keep such shapes out of the reference comparison.
    assume(not any(merge.TOKEN_RE.match(source, s) for s in starts))
    return source


@settings(max_examples=300, deadline=None)
@given(_TEMPLATE)
def test_count_equals_number_of_enumerated_paths(tree):
    source = _build(tree)
    t = parse(source)
    reference = _paths(tree)
    assert t.count() == len(reference)
    if len(reference) <= 500:
        assert [(text, tuple(map(int, key.split(".")) if key else ())) for text, key in t.iter_bodies()] == reference


@settings(max_examples=300, deadline=None)
@given(_TEMPLATE, st.lists(st.one_of(st.integers(), st.text(max_size=5), st.binary(max_size=5)), max_size=5))
def test_render_is_always_one_of_the_variants(tree, seeds):
    source = _build(tree)
    t = parse(source)
    reference = dict((".".join(map(str, key)), text) for text, key in _paths(tree))
    for seed in seeds:
        text, key = t.render(seed)
        assert reference[key] == text
        assert t.render(seed) == (text, key)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab{}|\\ ", max_size=20))
def test_parse_never_crashes_and_errors_point_at_a_brace(source):
    try:
        t = parse(source)
    except SpintaxError as err:
        assert source[err.position] in "{}"
        assert f"position {err.position}" in err.message
    else:
        assert t.count() >= 1
        text, _ = t.render(0)
        assert text in set(t.variants(limit=10_000))


def test_spin_then_merge_end_to_end():
    t = parse("{Hi|Hello} {{first_name|there}}, {{offer}}")
    spun, key = t.render(seed_for(3, 4))
    result = merge.render(spun, {"first_name": "{Ann|Bob}", "offer": "{{x}}"})
    assert result.text in {"Hi {Ann|Bob}, {{x}}", "Hello {Ann|Bob}, {{x}}"}
    assert result.missing == ()
    assert key in {"0", "1"}


def test_many_groups_use_further_hash_blocks_uniformly():
    t = parse("{a|b}" * 20)  # 20 groups: words from three BLAKE2b blocks
    by_key = {}
    last = Counter()
    for seed in range(2000):
        text, key = t.render(seed)
        assert len(key.split(".")) == 20 and text == "".join("ab"[int(i)] for i in key.split("."))
        by_key[key] = text
        last[text[-1]] += 1
    assert 0.43 <= last["a"] / 2000 <= 0.57, last
    assert len(by_key) > 1900  # paths differ between seeds
