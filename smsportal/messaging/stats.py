"""Message stats: outbound messages counted by (account, hour, campaign, variant, country, gateway, status, error
code), for
reports and the dashboard instead of COUNT(*) over messages.

Triggers on messaging_message (migration 0003) append signed delta rows to MessageStat on every insert, update
and delete, whatever path made it; `stats_squash` folds them into one row per dims group, and `stats_rebuild`
recomputes from the messages themselves. Reads go through `selectors.message_stats`.

On PostgreSQL the squasher and the rebuild exclude each other with an advisory lock (squashers share it):
a rebuild that read messages while a squasher moved rows it could not see would count those rows twice.
"""

from django.db import connection as db
from django.db import transaction

from .models import Message, MessageStat, MessageStatusStat

_ADVISORY_KEY = (73_601, 1)  # pg advisory lock: squashers shared, a rebuild exclusive

_TABLE = MessageStat._meta.db_table
_DIMS = ", ".join(MessageStat.DIMS)
_COLUMNS = f"{_DIMS}, messages, segments, cost, squashed"
_SAME_DIMS = " AND ".join(f"s.{d} = p.{d}" for d in MessageStat.DIMS)
_NARROW = MessageStatusStat._meta.db_table
_NARROW_KEY = "account_id, bucket, status"
# The folded deltas join the narrow rollup; ordered, so concurrent squashers lock its rows in the same order.
_NARROW_UPSERT = (
    f"INSERT INTO {_NARROW} ({_NARROW_KEY}, messages, segments, cost) {{select}}"
    f" ON CONFLICT ({_NARROW_KEY}) DO UPDATE SET messages = {_NARROW}.messages + excluded.messages,"
    f" segments = {_NARROW}.segments + excluded.segments, cost = {_NARROW}.cost + excluded.cost"
)


def stats_squash(*, limit: int = 5000) -> int:
    """Fold the rows of the dims groups among the first `limit` delta rows (so at most `limit` groups, and bounded
    work however far behind it is) into one squashed row each, none when they sum to zero. Returns how many
    groups it squashed.

    Set-based and safe alongside the triggers (rows written after it began stay unsquashed for the next run) and
    alongside another squasher: each re-inserts the sum of exactly the rows it deleted, and on PostgreSQL rows
    another squasher holds are skipped rather than waited for."""
    if db.vendor == "postgresql":
        return _squash_postgres(limit)
    return _squash_sqlite(limit)


def _squash_postgres(limit: int) -> int:
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock_shared(%s, %s)", _ADVISORY_KEY)
        if not cursor.fetchone()[0]:
            return 0  # a rebuild is under way; the next tick squashes
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT DISTINCT {_DIMS} FROM (SELECT {_DIMS} FROM {_TABLE} WHERE NOT squashed LIMIT %s) AS deltas
            ), taken AS (
                SELECT s.id FROM {_TABLE} AS s JOIN picked AS p ON {_SAME_DIMS}
                FOR UPDATE OF s SKIP LOCKED
            ), removed AS (
                DELETE FROM {_TABLE} AS s USING taken WHERE s.id = taken.id
                RETURNING {", ".join(f"s.{d}" for d in MessageStat.DIMS)}, s.messages, s.segments, s.cost,
                          s.squashed
            ), squashed AS (
                INSERT INTO {_TABLE} ({_COLUMNS})
                SELECT {_DIMS}, sum(messages), sum(segments), sum(cost), true FROM removed
                GROUP BY {_DIMS} HAVING sum(messages) <> 0 OR sum(segments) <> 0 OR sum(cost) <> 0
            ), narrowed AS (
                {_NARROW_UPSERT.format(select=f"SELECT {_NARROW_KEY}, sum(messages), sum(segments), sum(cost)"
                                       f" FROM removed WHERE NOT squashed GROUP BY {_NARROW_KEY}"
                                       f" ORDER BY {_NARROW_KEY}")}
            )
            SELECT count(*) FROM (SELECT DISTINCT {_DIMS} FROM removed) AS groups
            """,
            [limit],
        )
        return cursor.fetchone()[0]


def _squash_sqlite(limit: int) -> int:
    # SQLite has one writer at a time and the transaction takes the write lock at BEGIN (IMMEDIATE), so
    # nothing is written between these statements: the rows up to `last` are exactly the rows to replace.
    picked = (f"SELECT DISTINCT {_DIMS} FROM"
              f" (SELECT {_DIMS} FROM {_TABLE} WHERE NOT squashed AND id <= %s ORDER BY id LIMIT %s)")
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {_TABLE}")
        last = cursor.fetchone()[0]
        if last is None:
            return 0
        cursor.execute(f"SELECT count(*) FROM ({picked})", [last, limit])
        groups = cursor.fetchone()[0]
        if not groups:
            return 0
        # Costs are floating point in SQLite (NUMERIC affinity): rounded to the column's 4 places, a group whose
        # messages all left sums to 0 rather than to 1e-17.
        cursor.execute(_NARROW_UPSERT.format(
            select=f"SELECT {_NARROW_KEY}, sum(messages), sum(segments), round(sum(cost), 4) FROM {_TABLE}"
                   f" WHERE id <= %s AND NOT squashed AND ({_DIMS}) IN ({picked}) GROUP BY {_NARROW_KEY}"),
            [last, last, limit])
        cursor.execute(
            f"INSERT INTO {_TABLE} ({_COLUMNS})"
            f" SELECT {_DIMS}, sum(messages), sum(segments), round(sum(cost), 4), 1 FROM {_TABLE}"
            f" WHERE id <= %s AND ({_DIMS}) IN ({picked}) GROUP BY {_DIMS}"
            f" HAVING sum(messages) <> 0 OR sum(segments) <> 0 OR round(sum(cost), 4) <> 0",
            [last, last, limit],
        )
        cursor.execute(f"DELETE FROM {_TABLE} WHERE id <= %s AND ({_DIMS}) IN ({picked})", [last, last, limit])
    return groups


def stats_rebuild(*, account_id: int | None = None) -> int:
    """Recompute an account's stats (every account's without one) from its messages, as squashed rows. For
    repairs, and for a database whose triggers were missing for a while. Returns how many groups it wrote."""
    stats_scope, messages_scope, params = "", "", []
    if account_id is not None:
        stats_scope, messages_scope, params = "WHERE account_id = %s", "WHERE m.account_id = %s", [account_id]
    if db.vendor == "postgresql":
        bucket = "date_bin('1 hour', m.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"  # the UTC hour
        cost, true = "sum(m.price)", "true"
    else:
        bucket = "strftime('%%Y-%%m-%%d %%H:00:00', m.created_at)"
        cost, true = "round(sum(m.price), 4)", "1"
    insert = (
        f"INSERT INTO {_TABLE} ({_COLUMNS})"
        f" SELECT m.account_id, {bucket}, COALESCE(m.campaign_id, 0), m.variant_key, m.country,"
        f" COALESCE(m.gateway_id, 0), m.status, m.error_code, count(*), sum(m.segments), {cost}, {true}"
        f" FROM {Message._meta.db_table} AS m {messages_scope} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    with transaction.atomic(), db.cursor() as cursor:
        if db.vendor == "postgresql":
            # Squashers under way finish first and later ones skip their turn; then one statement, one snapshot: the
            # rows it deletes and the messages it counts are the same moment, and writes committed after it keep
            # their delta rows.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _ADVISORY_KEY)
            cursor.execute(f"WITH removed AS (DELETE FROM {_TABLE} {stats_scope}) {insert}", params + params)
        else:
            cursor.execute(f"DELETE FROM {_TABLE} {stats_scope}", params)
            cursor.execute(insert, params)
        groups = cursor.rowcount
        # The narrow rollup from the rows just written (deltas committed since stay unsquashed, read from MessageStat).
        cursor.execute(f"DELETE FROM {_NARROW} {stats_scope}", params)
        squashed = "WHERE squashed AND account_id = %s" if account_id is not None else "WHERE squashed"
        cursor.execute(f"INSERT INTO {_NARROW} ({_NARROW_KEY}, messages, segments, cost)"
                       f" SELECT {_NARROW_KEY}, sum(messages), sum(segments), sum(cost) FROM {_TABLE} {squashed}"
                       f" GROUP BY {_NARROW_KEY}", params)
        return groups
