"""Set-based writes on the SMS engine's hot paths (dispatch, delivery reports): one statement per batch,
plain tuples instead of model instances.

On PostgreSQL a batch travels as one JSON array of rows, unpacked by `jsonb_array_elements`: json.dumps and
PostgreSQL's parser are C, where binding the same rows as arrays costs psycopg ~1.6 µs of Python per value
(2.4 ms against 0.7 ms for 200 events). Elsewhere a prepared `executemany`.
"""

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


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_rows(rows: Iterable[Sequence]) -> str:
    return json.dumps(list(rows), separators=(",", ":"), default=_plain)


def unpacked(casts: Sequence[str], names: Sequence[str]) -> str:
    """SQL for a derived table `v(names)` of the JSON rows in the next parameter, each column cast."""
    columns = ", ".join(
        (f"NULLIF(e->{i}, 'null'::jsonb)" if cast == "jsonb" else f"(e->>{i})::{cast}") + f' AS "{name}"'
        for i, (cast, name) in enumerate(zip(casts, names, strict=True))
    )
    return f"(SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS e) AS v"


def insert_events(events: Iterable[Event]) -> int:
    rows = [(e.message_id, e.status, e.via, (e.code or "")[:64], (e.detail or "")[:500], e.raw, e.at) for e in events]
    if not rows:
        return 0
    table = MessageEvent._meta.db_table
    columns = ("message_id", "status", "via", "code", "detail", "raw", "at")
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            source = unpacked(("bigint", "text", "text", "text", "text", "jsonb", "timestamptz"), columns)
            cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {source}", [json_rows(rows)])
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(*row[:5], None if row[5] is None else json.dumps(row[5]), row[6]) for row in rows],
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
    guard = f" AND {where}" if where else ""
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            assignments = ", ".join([f'"{c}" = v."{c}"' for c in columns] + ([set_sql] if set_sql else []))
            cursor.execute(
                f"UPDATE {table} AS m SET {assignments} FROM {unpacked(('bigint', *casts), ('id', *columns))}"
                f" WHERE m.id = v.id{guard}",
                [*set_params, json_rows(ids_values), *where_params],
            )
            return cursor.rowcount
        changed = 0
        assignments = ", ".join([f'"{c}" = %s' for c in columns] + ([set_sql] if set_sql else []))
        for row in ids_values:
            cursor.execute(f"UPDATE {table} AS m SET {assignments} WHERE m.id = %s{guard}",
                           [*row[1:], *set_params, row[0], *where_params])
            changed += cursor.rowcount
        return changed
