"""Merge fields: ``{{field}}`` and ``{{field|fallback}}`` (PRODUCT.md §3).

Pure: standard library only, no models. Takes and returns values.

Order of operations for a message body::

    spun, variant_key = spintax.parse(template).render(spintax.seed_for(campaign_id, contact_id))
    body = merge.render(spun, contact_values)

Spintax first, then merge: contact data is inserted *after* spinning and is never re-parsed, so a value
such as ``"{a|b}"`` or ``"{{x}}"`` reaches the recipient literally. The spintax parser treats a
well-formed ``{{ … }}`` token (including its ``|fallback``) as opaque, using :data:`TOKEN_PATTERN`
from this module, so both modules agree on what a merge token is.

Token grammar (one compiled regex, :data:`TOKEN_RE`)::

    {{ <ws>* name <ws>* ( "|" fallback )? }}
    name     = [A-Za-z0-9_.]+          e.g. first_name, custom_1, fields.birthday
    fallback = any characters except { and }  (may be empty; may contain "|"; trimmed)

Decisions:

* A value that is absent, ``None`` or ``""`` uses the fallback when the token has one (an empty fallback,
  ``{{first_name|}}``, renders nothing). Non-string values are inserted with ``str()``.
* With no fallback such a token renders as ``""`` and its field name is reported in
  ``MergeResult.missing`` (deduplicated, in order of first appearance). "Missing" therefore means
  "nothing was inserted", whether the contact lacks the field or has it empty.
* Fallback text is inserted as written (trimmed); it is not re-parsed either.
* A malformed token (``{{first_name`` with no ``}}``, ``{{first name}}``) is not a merge token:
  :func:`render` leaves it literal and :func:`validate` reports it with :class:`MergeError` and the
  0-based position of its ``{{``. ``{{a}|b}`` is *not* flagged: a ``{{`` whose next brace is a single
  ``{`` or ``}`` is a spintax group nested in a group, and the spintax parser owns that.
* Limitation: escaped spintax braces are resolved by the spin step, so ``\\{\\{x\\}\\}`` in a template
  becomes ``{{x}}`` and is then merged. A literal double-brace merge-lookalike cannot be sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "TOKEN_PATTERN",
    "TOKEN_RE",
    "MergeError",
    "MergeResult",
    "fields_in",
    "render",
    "unknown_fields",
    "validate",
]

#: The merge token, with named groups ``name`` and ``fallback``. Shared with :mod:`.spintax`.
TOKEN_PATTERN = r"\{\{\s*(?P<name>[A-Za-z0-9_.]+)\s*(?:\|(?P<fallback>[^{}]*))?\}\}"
TOKEN_RE = re.compile(TOKEN_PATTERN)

_OPEN_RE = re.compile(r"\{\{")
_NEXT_BRACE_RE = re.compile(r"\{\{|\}\}|\{|\}")


class MergeError(ValueError):
    """A malformed merge token; ``position`` is the 0-based index of its ``{{``."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message = message
        self.position = position


class MergeResult(NamedTuple):
    text: str
    missing: tuple[str, ...]


def render(text: str, values: Mapping[str, object]) -> MergeResult:
    """Replace every merge token in ``text`` (already spun) with the contact's value or fallback."""
    if "{{" not in text:
        return MergeResult(text, ())
    missing: list[str] = []
    get = values.get

    def replace(m: re.Match[str]) -> str:
        name = m.group("name")
        value = get(name)
        if value is not None and value != "":
            return value if type(value) is str else str(value)
        fallback = m.group("fallback")
        if fallback is not None:
            return fallback.strip()
        if name not in missing:
            missing.append(name)
        return ""

    return MergeResult(TOKEN_RE.sub(replace, text), tuple(missing))


def fields_in(text: str) -> list[str]:
    """Field names used by ``text``'s merge tokens, deduplicated, in order of first appearance."""
    return list(dict.fromkeys(m.group("name") for m in TOKEN_RE.finditer(text)))


def unknown_fields(text: str, known: set[str] | frozenset[str]) -> list[str]:
    """The fields ``text`` uses that are not in ``known`` (order of first appearance)."""
    return [name for name in fields_in(text) if name not in known]


def validate(text: str) -> None:
    """Raise :class:`MergeError` at the first malformed ``{{`` in ``text``; return ``None`` if clean.

    A ``{{`` that does not start a well-formed token is malformed when the next brace after it is
    another ``{{`` or the end of the text (``unclosed``), or ``}}`` (``invalid``: bad name, empty name,
    the fallback not ending in ``}}``). If the next brace is a single ``{`` or ``}`` it is left to the
    spintax parser (``{{a}|b}`` and ``{{a|{b}}}`` are groups nested in groups).
    """
    pos = 0
    while True:
        m = _OPEN_RE.search(text, pos)
        if m is None:
            return
        start = m.start()
        token = TOKEN_RE.match(text, start)
        if token is not None:
            pos = token.end()
            continue
        nxt = _NEXT_BRACE_RE.search(text, start + 2)
        if nxt is None or nxt.group() == "{{":
            raise MergeError(f"unclosed merge field {{{{ at position {start} (expected }}}})", start)
        if nxt.group() == "}}":
            raise MergeError(
                f"invalid merge field at position {start}: use {{{{name}}}} or {{{{name|fallback}}}} "
                "with a name of letters, digits, _ and .",
                start,
            )
        pos = start + 1  # "{{a}|b}", "{{a|{b}}}": nested spintax groups, not ours
