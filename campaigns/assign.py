"""Which variant and which spintax alternatives each recipient of a campaign gets. Pure: no models.

A recipient's choices are words of a stable hash of (campaign, contact): `word(key, contact_id, salt)`, where
`key` is the campaign's random `assign_key` and `salt` says what the word decides (0: the explicit variant;
1 + g: spintax group g of the variant's template, groups numbered in document order). The hash is
PostgreSQL's `hashint8extended(contact_id, seed)` — Bob Jenkins' lookup3 on the id — reimplemented here bit
for bit, so the preview can count recipients per choice in SQL over a million contacts while launch, retry and
test sends compute the same choice in Python. (On SQLite the same Python function is registered under that
name.) tests/campaigns/test_assign.py checks the two agree on PostgreSQL.

Explicit variants split by basis points: `bucket = word % 10000`; variant k takes the buckets from the sum of
the splits before it up to the sum including it. A group with n alternatives takes `word % n`.
"""

from __future__ import annotations

from collections.abc import Sequence

M32 = 0xFFFFFFFF
M63 = 0x7FFFFFFFFFFFFFFF
BUCKETS = 10_000  # split resolution: 0.01 %
VARIANT_SALT = 0
SPIN_SALT = 1  # + the group's number


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def hash_uint32_extended(k: int, seed: int) -> int:
    """PostgreSQL's hash_uint32_extended (src/common/hashfn.c) as an unsigned 64-bit int."""
    a = b = c = (0x9E3779B9 + 4 + 3923095) & M32
    seed &= 0xFFFFFFFFFFFFFFFF
    if seed:
        a = (a + (seed >> 32)) & M32
        b = (b + (seed & M32)) & M32
        # mix(a, b, c)
        a = (a - c) & M32; a ^= _rot(c, 4); c = (c + b) & M32  # noqa: E702
        b = (b - a) & M32; b ^= _rot(a, 6); a = (a + c) & M32  # noqa: E702
        c = (c - b) & M32; c ^= _rot(b, 8); b = (b + a) & M32  # noqa: E702
        a = (a - c) & M32; a ^= _rot(c, 16); c = (c + b) & M32  # noqa: E702
        b = (b - a) & M32; b ^= _rot(a, 19); a = (a + c) & M32  # noqa: E702
        c = (c - b) & M32; c ^= _rot(b, 4); b = (b + a) & M32  # noqa: E702
    a = (a + k) & M32
    # final(a, b, c)
    c ^= b; c = (c - _rot(b, 14)) & M32  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & M32  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & M32  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & M32  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & M32  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & M32  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & M32  # noqa: E702
    return (b << 32) | c


def hashint8extended(value: int, seed: int) -> int:
    """PostgreSQL's hashint8extended(bigint, bigint) → bigint (signed, as SQL returns it)."""
    low, high = value & M32, (value >> 32) & M32
    low ^= high if value >= 0 else (~high & M32)
    h = hash_uint32_extended(low, seed)
    return h - (1 << 64) if h >= 1 << 63 else h


def seed(key: int, salt: int) -> int:
    return key * 1024 + salt


def word(key: int, contact_id: int, salt: int) -> int:
    """A non-negative 63-bit word for one decision about one recipient."""
    return hashint8extended(contact_id, seed(key, salt)) & M63


def word_sql(key: int, salt: int, id_column: str = "id") -> str:
    """The same word as a SQL expression over `id_column` (key and salt are ints, inlined safely)."""
    return f"(hashint8extended({id_column}, {int(seed(int(key), int(salt)))}) & {M63})"


def cumulative(splits: Sequence[int]) -> list[int]:
    """Basis-point upper bounds of each variant from their percentages (which sum to 100)."""
    bounds, total = [], 0
    for percent in splits:
        total += int(percent) * (BUCKETS // 100)
        bounds.append(total)
    return bounds


def variant_index(key: int, contact_id: int, bounds: Sequence[int]) -> int:
    if len(bounds) == 1:
        return 0
    bucket = word(key, contact_id, VARIANT_SALT) % BUCKETS
    for index, bound in enumerate(bounds):
        if bucket < bound:
            return index
    return len(bounds) - 1


def variant_sql(key: int, bounds: Sequence[int], id_column: str = "id") -> str:
    """SQL for the variant index of each recipient (0 when there is one variant). Like choice_sql, it is meant
    for a statement with parameters: its modulo is written %%."""
    if len(bounds) == 1:
        return "0"
    bucket = f"({word_sql(key, VARIANT_SALT, id_column)} %% {BUCKETS})"
    cases = " ".join(f"WHEN {bucket} < {int(bound)} THEN {index}" for index, bound in enumerate(bounds[:-1]))
    return f"(CASE {cases} ELSE {len(bounds) - 1} END)"


def choices(key: int, contact_id: int, sizes: Sequence[int]) -> tuple[int, ...]:
    """The alternative picked in each spintax group (sizes: alternatives per group, in document order)."""
    return tuple(word(key, contact_id, SPIN_SALT + g) % n for g, n in enumerate(sizes))


def choice_sql(key: int, group: int, size: int, id_column: str = "id") -> str:
    return f"({word_sql(key, SPIN_SALT + group, id_column)} %% {int(size)})"
