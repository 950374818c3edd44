"""SMS encoding and segmentation (GSM 03.38 / 3GPP 23.040), pure and stdlib-only.

One function, :func:`analyze`, decides the encoding, the length and the parts of a body; the preview, the
price, the charge and the send all use it (or its cheap twins :func:`segment_count` and
:func:`encoding_of`, which never build parts and always agree with it).

Rules (PRODUCT.md §3, REFERENCE.md "Segments"):

* A body is GSM-7 when every character is in the basic or the extension set, else UCS-2.
* GSM-7 length is in septets: basic characters count 1, extension characters (ESC + code) count 2.
  ≤ 160 septets is one segment; otherwise parts of at most 153 septets.
* UCS-2 length is in UTF-16 code units: a character outside the BMP (an emoji) counts 2, a flag 4,
  `€` 1. ≤ 70 units is one segment; otherwise parts of at most 67 units.
* An escape pair or a surrogate pair is never split across parts, so a part may hold 152 septets or
  66 units, and such a move can add a part.
* An empty body is GSM-7 with length 0 and **0 segments** (no parts): there is nothing to send, and
  ClickSend rejects an empty message rather than charging a part for it.

Splitting works in code points (Python ``str`` indexing) while counting septets or UTF-16 units, so
every part is a whole ``str`` and ``"".join(parts) == body``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "GSM_7",
    "UCS_2",
    "GSM_BASIC",
    "GSM_EXTENSION",
    "SegmentInfo",
    "analyze",
    "segment_count",
    "encoding_of",
    "is_gsm",
    "smart_encode",
    "SMART_REPLACEMENTS",
]

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM_ALL = GSM_BASIC | GSM_EXTENSION

GSM_SINGLE, GSM_MULTI = 160, 153
UCS_SINGLE, UCS_MULTI = 70, 67


def _char_class(chars: frozenset[str], negate: bool = False) -> re.Pattern[str]:
    body = "".join(re.escape(c) for c in sorted(chars))
    return re.compile(f"[{'^' if negate else ''}{body}]")


_NON_GSM_RE = _char_class(_GSM_ALL, negate=True)
_NON_GSM_RUN_RE = re.compile(_NON_GSM_RE.pattern + "+")
_EXT_RE = _char_class(GSM_EXTENSION)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

# ASCII fast path: one bytes.translate deletes every basic GSM byte; what is left is extension
# characters (2 septets each) or ASCII outside GSM-7 (backtick, tab, other control characters).
_ASCII_BASIC = bytes(c for c in range(128) if chr(c) in GSM_BASIC)
_ASCII_EXT = bytes(c for c in range(128) if chr(c) in GSM_EXTENSION)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a body goes over the air.

    ``length`` is in septets for GSM-7 and UTF-16 units for UCS-2; ``per_segment`` is the limit that
    applies (160/153 or 70/67); ``remaining`` is how many units still fit in the last part before another
    part is needed; ``parts`` is the body split exactly as sent; ``unicode_chars`` lists the distinct
    characters (code points, first appearance first) that forced UCS-2.
    """

    encoding: str
    length: int
    segments: int
    per_segment: int
    remaining: int
    parts: tuple[str, ...]
    unicode_chars: tuple[str, ...] = ()

    @property
    def is_unicode(self) -> bool:
        return self.encoding == UCS_2


def _measure(body: str) -> tuple[str, int]:
    """(encoding, length in septets or UTF-16 units) with as little per-character Python as possible."""
    if body.isascii():
        rest = body.encode("ascii").translate(None, _ASCII_BASIC)
        if not rest:
            return GSM_7, len(body)
        if not rest.translate(None, _ASCII_EXT):
            return GSM_7, len(body) + len(rest)
        return UCS_2, len(body)
    if _NON_GSM_RE.search(body) is None:
        return GSM_7, len(body) + len(_EXT_RE.findall(body))
    return UCS_2, len(body.encode("utf-16-le")) >> 1


def _wide_positions(body: str, encoding: str) -> list[int]:
    """Code-point indices of the characters that take two units (escape or surrogate pairs)."""
    pattern = _EXT_RE if encoding == GSM_7 else _ASTRAL_RE
    return [m.start() for m in pattern.finditer(body)]


def _split(n: int, wide: list[int], limit: int) -> list[int]:
    """End indices (code points) of greedy parts of at most ``limit`` units over a body of ``n`` code
    points, where the code points at ``wide`` count 2 and every other counts 1; a wide character never
    straddles a boundary. Runs in O(parts + len(wide))."""
    ends: list[int] = []
    start = 0
    j, w = 0, len(wide)
    while start < n:
        taken = 0  # wide characters already in this part
        end = -1
        while j < w:
            offset = wide[j] - start + taken  # unit offset of this wide character within the part
            if offset + 2 <= limit:
                taken += 1
                j += 1
            else:
                # Past the limit entirely, or straddling it: then the pair moves whole to the next part.
                end = start + limit - taken if offset >= limit else wide[j]
                break
        if end < 0:
            end = min(n, start + limit - taken)
        ends.append(end)
        start = end
    return ends


def _limits(encoding: str) -> tuple[int, int]:
    return (GSM_SINGLE, GSM_MULTI) if encoding == GSM_7 else (UCS_SINGLE, UCS_MULTI)


def encoding_of(body: str) -> str:
    """``"GSM-7"`` or ``"UCS-2"``."""
    if body.isascii():
        rest = body.encode("ascii").translate(None, _ASCII_BASIC)
        return GSM_7 if not rest.translate(None, _ASCII_EXT) else UCS_2
    return GSM_7 if _NON_GSM_RE.search(body) is None else UCS_2


def is_gsm(body: str) -> bool:
    return encoding_of(body) == GSM_7


def segment_count(body: str) -> int:
    """Number of segments, without building the parts; always equals ``analyze(body).segments``."""
    if not body:
        return 0
    encoding, length = _measure(body)
    single, multi = _limits(encoding)
    if length <= single:
        return 1
    if length == len(body):  # no escape or surrogate pairs: plain arithmetic
        return -(-length // multi)
    return len(_split(len(body), _wide_positions(body, encoding), multi))


def analyze(body: str) -> SegmentInfo:
    """Encoding, length, segments and the exact parts of ``body``."""
    encoding, length = _measure(body)
    single, multi = _limits(encoding)
    unicode_chars = tuple(dict.fromkeys("".join(_NON_GSM_RUN_RE.findall(body)))) if encoding == UCS_2 else ()
    if not body:
        return SegmentInfo(encoding, 0, 0, single, single, (), ())
    if length <= single:
        return SegmentInfo(encoding, length, 1, single, single - length, (body,), unicode_chars)
    if length == len(body):
        ends = list(range(multi, length, multi)) + [length]
    else:
        ends = _split(len(body), _wide_positions(body, encoding), multi)
    parts = []
    start = 0
    for end in ends:
        parts.append(body[start:end])
        start = end
    last = parts[-1]
    last_len = len(last) + (len(_EXT_RE.findall(last)) if encoding == GSM_7 else len(_ASTRAL_RE.findall(last)))
    return SegmentInfo(encoding, length, len(parts), multi, multi - last_len, tuple(parts), unicode_chars)


# --- Smart encoding -----------------------------------------------------------------------------------

# Look-alikes replaced with GSM-7 characters. REFERENCE.md's list, plus a few equally unambiguous ones:
# low/reversed quotation marks, primes, single guillemets, the hyphen/figure-dash/minus family, line and
# paragraph separators (→ newline), tab (→ space), and invisible characters (zero-width space, word
# joiner, BOM, soft hyphen) removed. Deliberately NOT replaced: bullets, ™/©/®, fractions and
# full-width forms — those change what the reader sees, not just the code point.
SMART_REPLACEMENTS: dict[str, str] = {
    # double quotes
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2033": '"', "\u301d": '"', "\u301e": '"',
    # single quotes and apostrophes
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u00b4": "'", "`": "'",
    "\u2032": "'", "\u2039": "'", "\u203a": "'",
    # dashes and minus
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    # ellipsis
    "\u2026": "...",
    # odd spaces
    "\t": " ", "\u00a0": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ",
    **{chr(c): " " for c in range(0x2000, 0x200B)},
    # line breaks
    "\u2028": "\n", "\u2029": "\n",
    # invisible
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
}
# Zero-width (non-)joiners shape emoji sequences and Indic/Arabic text, so they are removed only when
# doing so leaves a GSM-7 body (then they joined nothing).
_JOINERS = {"\u200c": "", "\u200d": ""}

_SMART_TABLE = str.maketrans(SMART_REPLACEMENTS)
_SMART_RE = re.compile("[" + "".join(re.escape(c) for c in sorted(SMART_REPLACEMENTS)) + "]")
_JOINER_TABLE = str.maketrans(_JOINERS)
_ALL_REPLACEMENTS = {**SMART_REPLACEMENTS, **_JOINERS}
_SMART_OR_JOINER_RE = re.compile("[" + "".join(re.escape(c) for c in sorted(_ALL_REPLACEMENTS)) + "]")


def smart_encode(body: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace look-alikes with GSM-7 characters; return the new body and the distinct replacements made
    as ``[(from, to), ...]`` in first-appearance order (``to`` is ``""`` for a removed character).

    A GSM-7 body is returned unchanged. A body whose only non-GSM characters are look-alikes comes back
    GSM-7. Look-alikes are replaced even when other characters keep the body UCS-2 (the composer shows
    the before/after counts and lets the user choose).
    """
    if encoding_of(body) == GSM_7:
        return body, []
    new = body.translate(_SMART_TABLE)
    pattern = _SMART_RE
    if ("\u200c" in new or "\u200d" in new) and encoding_of(new.translate(_JOINER_TABLE)) == GSM_7:
        new = new.translate(_JOINER_TABLE)
        pattern = _SMART_OR_JOINER_RE
    if new == body:
        return body, []
    return new, [(c, _ALL_REPLACEMENTS[c]) for c in dict.fromkeys(pattern.findall(body))]
