"""Set-based writes on the SMS engine's hot paths (dispatch, delivery reports): one statement per batch,
plain tuples instead of model instances. On PostgreSQL rows travel as arrays through `unnest`, so a batch of
a thousand is one round trip with no per-row SQL text; elsewhere a prepared `executemany`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection as db

from .models import Message, MessageEvent


class Event(NamedTuple):
    message_id: int
    status: str
    via: str
    at: datetime
    code: str = ""
    detail: str = ""
    raw: Any = None


def insert_events(events: Iterable[Event]) -> int:
    rows = [(e.message_id, e.status, e.via, (e.code or "")[:64], (e.detail or "")[:500],
             None if e.raw is None else json.dumps(e.raw), e.at) for e in events]
    if not rows:
        return 0
    table = MessageEvent._meta.db_table
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            columns = list(zip(*rows, strict=True))
            cursor.execute(
                f"INSERT INTO {table} (message_id, status, via, code, detail, raw, at)"
                f" SELECT m, s, v, c, d, r::jsonb, a FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[],"
                f" %s::text[], %s::text[], %s::timestamptz[]) AS t(m, s, v, c, d, r, a)",
                [list(column) for column in columns],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {table} (message_id, status, via, code, detail, raw, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    return len(rows)


def update_messages(*, ids_values: Sequence[tuple], columns: Sequence[str], casts: Sequence[str], where: str = "",
                    where_params: Sequence = (), set_sql: str = "", set_params: Sequence = ()) -> int:
    """UPDATE messages row by row from values: `ids_values` are (id, value, …) for `columns`, cast as `casts`.

    `set_sql` adds assignments common to every row; `where` adds a guard on the message (alias m). Returns the
    number of rows changed."""
    if not ids_values:
        return 0
    table = Message._meta.db_table
    assignments = ", ".join([f'"{c}" = v."{c}"' for c in columns] + ([set_sql] if set_sql else []))
    guard = f" AND {where}" if where else ""
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            arrays = list(zip(*ids_values, strict=True))
            unnest = ", ".join(["%s::bigint[]"] + [f"%s::{cast}[]" for cast in casts])
            names = ", ".join(["id"] + [f'"{c}"' for c in columns])
            cursor.execute(
                f"UPDATE {table} AS m SET {assignments} FROM unnest({unnest}) AS v({names})"
                f" WHERE m.id = v.id{guard}",
                [*set_params, *[list(a) for a in arrays], *where_params],
            )
            return cursor.rowcount
        changed = 0
        sqlite_set = ", ".join([f'"{c}" = %s' for c in columns] + ([set_sql] if set_sql else []))
        for row in ids_values:
            cursor.execute(f"UPDATE {table} AS m SET {sqlite_set} WHERE m.id = %s{guard}",
                           [*row[1:], *set_params, row[0], *where_params])
            changed += cursor.rowcount
        return changed
