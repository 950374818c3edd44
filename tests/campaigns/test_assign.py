"""Who gets which variant and which spintax alternative: the Python hash equals the SQL one, splits are fair."""

import random
from collections import Counter

import pytest
from django.db import connection

from campaigns import assign


def sql_words(key, salt, ids):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i, {assign.word_sql(key, salt, 'i')} FROM ("
            + " UNION ALL ".join(["SELECT %s AS i"] * len(ids)) + ") AS t",
            list(ids),
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_the_database_computes_the_same_words_as_python():
    """On PostgreSQL this is its own hashint8extended; on SQLite the Python function registered under its name."""
    rng = random.Random(7)
    ids = [1, 2, 3, 1000, 2**31 - 1, 2**31, 2**40 + 17, *(rng.randrange(1, 2**50) for _ in range(40))]
    for key, salt in [(0, 0), (12345, 0), (2**31 - 1, 7), (rng.randrange(2**31), 3)]:
        assert sql_words(key, salt, ids) == {i: assign.word(key, i, salt) for i in ids}


def test_known_values_of_postgresqls_hash():
    """Pinned from PostgreSQL 15: `SELECT hashint8extended(5, 1025)` and friends."""
    assert assign.hashint8extended(5, 1025) == -5916792440829783388
    assert assign.hashint8extended(0, 0) == assign.hashint8extended(0, 0)
    assert 0 <= assign.word(99, 5, 1) < 2**63


def test_a_fifty_fifty_split_over_ten_thousand_lands_within_two_percent():
    bounds = assign.cumulative([50, 50])
    for key in (1, 424242, 2**31 - 2):
        shares = Counter(assign.variant_index(key, contact_id, bounds) for contact_id in range(1, 10_001))
        assert abs(shares[0] - 5000) <= 200 and abs(shares[1] - 5000) <= 200


def test_uneven_splits_and_spintax_choices_are_fair():
    bounds = assign.cumulative([10, 30, 60])
    shares = Counter(assign.variant_index(77, i, bounds) for i in range(1, 20_001))
    assert [round(shares[k] / 200) for k in range(3)] == [10, 30, 60]
    picks = Counter(assign.choices(77, i, (3, 2))[0] for i in range(1, 9_001))
    assert all(abs(picks[k] - 3000) < 180 for k in range(3))


def test_choices_are_stable_and_independent_of_each_other():
    assert assign.choices(5, 42, (3, 4, 2)) == assign.choices(5, 42, (3, 4, 2))
    # A group's pick depends on its own number, not on the groups before it.
    assert assign.choices(5, 42, (3, 4, 2))[2] == assign.choices(5, 42, (7, 9, 2))[2]
    # Another campaign (key) reshuffles.
    firsts = [assign.choices(k, 42, (1000,))[0] for k in range(20)]
    assert len(set(firsts)) > 15
