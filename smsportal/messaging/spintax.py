r"""Spintax: ``{a|b|c}`` picks one alternative per recipient (PRODUCT.md §3).

Pure: standard library only, no models. Takes and returns values.

Order of operations for a message body::

    template = spintax.parse(campaign.body)            # cached: parse once per distinct template
    spun, variant_key = template.render(spintax.seed_for(campaign.id, contact.id))
    body = merge.render(spun, contact_values).text     # merge second: contact data is never spun

Grammar and decisions
---------------------
* ``{a|b|c}`` is a choice group; groups nest (``{a|b{c|d}}``); alternatives may be empty (``{|!}``);
  a group with one alternative (``{a}``) is allowed and always yields it.
* ``|`` outside any group is a literal ``|``.
* Escapes: ``\{``, ``\}``, ``\|`` and ``\\`` are the literal character and never create or split a
  group. A backslash before any other character (or at the end) is itself a literal backslash and the
  next character keeps its meaning: ``C:\temp`` stays ``C:\temp``; ``\{`` is a brace but ``\x{a|b}``
  is ``\x`` followed by a group. Escapes are resolved in the rendered text.
* Merge tokens: a well-formed ``{{name}}`` / ``{{name|fallback}}`` (pattern shared with
  :mod:`.merge`) is opaque — its braces and ``|`` are not spintax — and is copied verbatim to the
  output for the merge step. A ``{{`` that is not a well-formed token is two group openings, so
  ``{{a}|b}`` is a group whose first alternative is the group ``{a}``. (``{{a|b}}`` is the merge field
  ``a`` with fallback ``b``; it would mean the same as ``{a|b}`` as groups anyway.)
* Errors: :class:`SpintaxError` with ``position``, the 0-based index of the offending brace: a stray
  ``}`` at its own index; an unclosed ``{`` at the index of the *outermost* group left open (``"{a|{b}"``
  → 0; ``"Hi {{first_name"`` → 3, with a hint about closing the merge field). Nesting deeper than
  :data:`MAX_DEPTH` is an error at the ``{`` that exceeds it.

Counting
--------
:meth:`Template.count` is computed from the tree, never by enumeration: a sequence multiplies its
groups' counts, a group sums its alternatives' counts; text and merge tokens count 1. It counts
distinct *choice paths*: ``{a|a}`` counts 2 although both paths yield ``"a"``. It is an exact Python
``int`` however large (``{a|b}`` repeated 200 times → 2**200).

Deterministic choice and variant key
------------------------------------
``render(seed)`` hashes the seed with BLAKE2b (never Python's salted ``hash()``) into a stream of
64-bit words: block ``n`` (``n = 0, 1, …``) is ``blake2b(n.to_bytes(8, "big") + seed_bytes,
digest_size=64, person=b"smsportal.spin1")`` read as eight big-endian unsigned 64-bit words. Groups are
visited in document order along the chosen path (pre-order: a group, then the groups inside the chosen
alternative, then the following groups), and each visited group consumes the next word and picks
alternative ``word % len(alternatives)`` — uniform per group (bias below 2**-58 for any real group).
Seed bytes: ``int`` → ``b"i" + decimal``, ``str`` → ``b"s" + UTF-8``, bytes-like → ``b"b" + bytes``.
This algorithm is part of the contract: changing it would change which body a stored message should
have had, so a new one needs a new ``person`` and a migration story.

The variant key lists the chosen alternative index of each visited group in that order, joined with
``"."``: ``"{a|b{c|d}}"`` gives ``"0"``, ``"1.0"`` or ``"1.1"``. It is ``""`` for a template with no
groups. Within one template, equal keys ⇔ equal paths; the key is stable across processes and
releases.
"""

from __future__ import annotations

import re
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from itertools import chain
from typing import Union

from .merge import TOKEN_PATTERN

__all__ = [
    "MAX_DEPTH",
    "Choice",
    "Field",
    "SpintaxError",
    "Template",
    "Text",
    "parse",
    "seed_for",
]

MAX_DEPTH = 100
_PERSON = b"smsportal.spin1"
_SEED_PERSON = b"smsportal.seed1"
_WORDS = struct.Struct(">8Q").unpack
_BLOCK0 = bytes(8)
_MEMO_LIMIT = 4096  # rendered paths remembered per template

_TOKEN_RE = re.compile(
    r"(?P<text>[^\\{}|]+)"
    r"|(?P<merge>" + TOKEN_PATTERN + r")"
    r"|\\(?P<esc>[\\{}|])"
    r"|(?P<open>\{)"
    r"|(?P<close>\})"
    r"|(?P<bar>\|)"
    r"|(?P<bs>\\)"
)


class SpintaxError(ValueError):
    """Unbalanced braces; ``position`` is the 0-based index of the offending brace."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message = message
        self.position = position


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text, escapes already resolved."""

    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A merge token, copied verbatim (``raw``) to the spun text."""

    raw: str
    name: str
    fallback: str | None
    position: int


@dataclass(frozen=True, slots=True)
class Choice:
    """A group: one sequence per alternative; ``position`` is the index of its ``{``."""

    alternatives: tuple[tuple[Node, ...], ...]
    position: int


Node = Union[Text, Field, Choice]


class _Group:
    """Compiled group: alternatives as compact sequences (str | _Group), counts for decoding, and
    ``sub``: per alternative, just the groups directly in it (what :meth:`Template.render` walks)."""

    __slots__ = ("alts", "n", "count", "starts", "sub", "ordinal")

    def __init__(self, alts: tuple[tuple, ...], counts: list[int]):
        self.alts = alts
        self.n = len(alts)
        self.ordinal = -1  # the group's number in document order, set by _number
        self.count = sum(counts)
        self.sub = tuple(tuple(item for item in alt if type(item) is not str) for alt in alts)
        starts, acc = [], 0
        for c in counts:
            starts.append(acc)
            acc += c
        self.starts = starts


def _compile(seq: tuple[Node, ...]) -> tuple[tuple, int]:
    """Public sequence → (compact sequence with adjacent strings joined, number of paths)."""
    items: list = []
    buf: list[str] = []
    count = 1
    for node in seq:
        if isinstance(node, Text):
            buf.append(node.text)
        elif isinstance(node, Field):
            buf.append(node.raw)
        else:
            if buf:
                items.append("".join(buf))
                buf = []
            compiled = [_compile(alt) for alt in node.alternatives]
            group = _Group(tuple(c for c, _ in compiled), [n for _, n in compiled])
            items.append(group)
            count *= group.count
    if buf:
        items.append("".join(buf))
    return tuple(items), count


def _number(seq: tuple, sizes: list[int]) -> None:
    """Number the groups in document order (a group before the groups inside it), collecting their sizes."""
    for item in seq:
        if type(item) is not str:
            item.ordinal = len(sizes)
            sizes.append(item.n)
            for alt in item.alts:
                _number(alt, sizes)


def _walk_choices(groups: tuple[_Group, ...], choices, key: list[int]) -> None:
    for group in groups:
        i = choices[group.ordinal]
        key.append(i)
        sub = group.sub[i]
        if sub:
            _walk_choices(sub, choices, key)


# --- seeds --------------------------------------------------------------------------------------


def _seed_bytes(seed: int | bytes | str) -> bytes:
    if isinstance(seed, int):
        return b"i" + str(int(seed)).encode()
    if isinstance(seed, str):
        return b"s" + seed.encode("utf-8")
    if isinstance(seed, (bytes, bytearray, memoryview)):
        return b"b" + bytes(seed)
    raise TypeError(f"seed must be int, str or bytes, not {type(seed).__name__}")


def _words(seed: bytes, blocks: int) -> tuple[int, ...]:
    """The first ``8 * blocks`` words of the seed's stream (see the module docstring)."""
    if blocks == 1:
        return _WORDS(blake2b(_BLOCK0 + seed, digest_size=64, person=_PERSON).digest())
    words: tuple[int, ...] = ()
    for block in range(blocks):
        words += _WORDS(blake2b(block.to_bytes(8, "big") + seed, digest_size=64, person=_PERSON).digest())
    return words


def _walk(groups: tuple[_Group, ...], words: tuple[int, ...], key: list[int]) -> None:
    for group in groups:
        i = words[len(key)] % group.n
        key.append(i)
        sub = group.sub[i]
        if sub:
            _walk(sub, words, key)


def seed_for(campaign_id: object, contact_id: object) -> int:
    """A stable 64-bit seed for one recipient of one campaign (ids are ``str()``-ed: 5 and "5" agree)."""
    data = f"{campaign_id}\x1f{contact_id}".encode("utf-8")
    return int.from_bytes(blake2b(data, digest_size=8, person=_SEED_PERSON).digest(), "big")


# --- the template -------------------------------------------------------------------------------


class Template:
    """A parsed spintax template. Immutable; obtain one with :func:`parse` (cached)."""

    __slots__ = ("source", "nodes", "fields", "sizes", "_compact", "_count", "_flat", "_top", "_blocks", "_memo")

    def __init__(self, source: str, nodes: tuple[Node, ...]):
        self.source = source
        self.nodes = nodes
        self._compact, self._count = _compile(nodes)
        self._top = tuple(item for item in self._compact if type(item) is not str)
        sizes: list[int] = []
        _number(self._compact, sizes)
        self.sizes = tuple(sizes)  # alternatives of each group, in document order
        # a path visits at most every group once: that many words, 8 per BLAKE2b block
        self._blocks = max(1, -(-_count_groups(self._top) // 8))
        self._memo: dict[tuple[int, ...], tuple[str, str]] = {}
        if not self._compact:
            self._flat: str | None = ""
        elif len(self._compact) == 1 and type(self._compact[0]) is str:
            self._flat = self._compact[0]
        else:
            self._flat = None
        self.fields = tuple(dict.fromkeys(f.name for f in _iter_fields(nodes)))

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    @property
    def has_choices(self) -> bool:
        return self._flat is None

    def count(self) -> int:
        """Number of distinct choice paths (= bodies, counting equal strings from different paths)."""
        return self._count

    def render(self, seed: int | bytes | str) -> tuple[str, str]:
        """``(spun text with merge tokens left as {{…}}, variant key)`` — deterministic in ``seed``."""
        if self._flat is not None:
            return self._flat, ""
        path: list[int] = []
        _walk(self._top, _words(_seed_bytes(seed), self._blocks), path)
        return self._along(path)

    def _along(self, path: list[int]) -> tuple[str, str]:
        """``(text, key)`` of the chosen indices of the visited groups, remembered for the next recipient."""
        path_key = tuple(path)
        hit = self._memo.get(path_key)
        if hit is not None:
            return hit
        out: list[str] = []
        _follow(self._compact, iter(path), out)
        result = "".join(out), ".".join(map(str, path))
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[path_key] = result
        return result

    def render_choices(self, choices) -> tuple[str, str]:
        """``(spun text, variant key)`` with ``choices[g]`` picked in group ``g`` (document order; one entry per
        group in :attr:`sizes`). Groups off the chosen path ignore their entry: a choice never depends on
        another, so each can be decided (or counted in SQL) on its own."""
        if self._flat is not None:
            return self._flat, ""
        path: list[int] = []
        _walk_choices(self._top, choices, path)
        return self._along(path)

    def first_choices(self) -> list[str]:
        """The alternatives of the template's first group as text (groups inside them shown as ``{…}``): what a
        report calls the top-level spintax choices. Empty when the template has no groups."""
        if not self._top:
            return []
        return ["".join(item if type(item) is str else "{…}" for item in alt) for alt in self._top[0].alts]

    def body(self, index: int) -> tuple[str, str]:
        """The ``index``-th path (0 ≤ index < count()) in lexicographic key order: ``(text, key)``."""
        if not 0 <= index < self._count:
            raise IndexError(f"path index {index} out of range 0..{self._count - 1}")
        out: list[str] = []
        key: list[str] = []
        _decode(self._compact, index, out, key)
        return "".join(out), ".".join(key)

    def iter_bodies(self) -> Iterator[tuple[str, str]]:
        """Every path, lazily, in lexicographic key order (``count()`` items — mind the size)."""
        for index in range(self._count):
            yield self.body(index)

    def variants(self, limit: int = 20) -> list[str]:
        """Up to ``limit`` distinct bodies for a preview.

        If there are at most ``max(limit * 50, 1000)`` paths they are all examined in order; otherwise
        ``limit`` paths spread evenly across the whole space are examined first (then a finer spread
        of that budget), so the preview varies every group rather than just the last one. Merge
        tokens are left in place.
        """
        if limit <= 0:
            return []
        budget = max(limit * 50, 1000)
        total = self._count
        if total <= budget:
            indices: Iterable[int] = range(total)
        else:
            indices = chain((k * total // limit for k in range(limit)), (k * total // budget for k in range(budget)))
        seen: dict[str, None] = {}
        for index in indices:
            seen.setdefault(self.body(index)[0])
            if len(seen) >= limit:
                break
        return list(seen)


def _count_groups(groups: tuple[_Group, ...]) -> int:
    return sum(1 + sum(_count_groups(sub) for sub in group.sub) for group in groups)


def _follow(seq: tuple, path: Iterator[int], out: list[str]) -> None:
    """Append the text of ``seq`` along ``path`` (chosen indices in pre-order)."""
    for item in seq:
        if type(item) is str:
            out.append(item)
        else:
            _follow(item.alts[next(path)], path, out)


def _decode(seq: tuple, index: int, out: list[str], key: list[str]) -> None:
    digits = []
    for item in reversed(seq):
        if type(item) is not str:
            index, r = divmod(index, item.count)
            digits.append(r)
    for item in seq:
        if type(item) is str:
            out.append(item)
        else:
            r = digits.pop()
            j = bisect_right(item.starts, r) - 1
            key.append(str(j))
            _decode(item.alts[j], r - item.starts[j], out, key)


def _iter_fields(seq: tuple[Node, ...]) -> Iterator[Field]:
    for node in seq:
        if isinstance(node, Field):
            yield node
        elif isinstance(node, Choice):
            for alt in node.alternatives:
                yield from _iter_fields(alt)


# --- the parser ---------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def parse(template: str) -> Template:
    """Parse ``template`` (cached: the same template is rendered for every recipient)."""
    return Template(template, _parse(template))


def _parse(template: str) -> tuple[Node, ...]:
    # stack frames: (position of "{", finished alternatives, the enclosing sequence)
    stack: list[tuple[int, list[tuple[Node, ...]], list[Node]]] = []
    cur: list[Node] = []
    buf: list[str] = []
    for m in _TOKEN_RE.finditer(template):
        kind = m.lastgroup
        if kind == "text":
            buf.append(m.group())
            continue
        if kind == "esc":
            buf.append(m.group("esc"))
            continue
        if kind == "bs":
            buf.append("\\")
            continue
        if kind == "bar" and not stack:
            buf.append("|")
            continue
        if buf:
            cur.append(Text("".join(buf)))
            buf = []
        pos = m.start()
        if kind == "merge":
            fallback = m.group("fallback")
            cur.append(Field(m.group(), m.group("name"), None if fallback is None else fallback.strip(), pos))
        elif kind == "bar":
            stack[-1][1].append(tuple(cur))
            cur = []
        elif kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise SpintaxError(f"groups nested deeper than {MAX_DEPTH} at position {pos}", pos)
            stack.append((pos, [], cur))
            cur = []
        else:  # close
            if not stack:
                raise SpintaxError(f"unexpected }} at position {pos} (no group to close)", pos)
            start, alts, outer = stack.pop()
            alts.append(tuple(cur))
            outer.append(Choice(tuple(alts), start))
            cur = outer
    if stack:
        start = stack[0][0]
        message = f"unclosed {{ at position {start}"
        if template.startswith("{{", start):
            message += " (a merge field must look like {{name}} or {{name|fallback}})"
        raise SpintaxError(message, start)
    if buf:
        cur.append(Text("".join(buf)))
    return tuple(cur)
