"""Message stats by error code too: the delivery reports' error table reads the rollup, not the messages.

The triggers are written again with the new dimension and the stats rebuilt from the messages, in the migration's
transaction (on PostgreSQL the trigger replacement locks writers to messages out until it commits). The rows
written before had no error code: kept, a later update's delta would take messages out of groups that never held
them.
"""

from django.db import migrations, models

_PG_BUCKET = "date_bin('1 hour', {m}.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"  # the UTC hour
_PG_DIMS = (
    "{m}.account_id, " + _PG_BUCKET + ", COALESCE({m}.campaign_id, 0), {m}.variant_key, {m}.country,"
    " COALESCE({m}.gateway_id, 0), {m}.status, {m}.error_code"
)
_NAMES = "account_id, bucket, campaign_id, variant_key, country, gateway_id, status, error_code"
_COLUMNS = f"{_NAMES}, messages, segments, cost, squashed"
_GROUP = "1, 2, 3, 4, 5, 6, 7, 8"
_COUNTED = ("status", "gateway_id", "account_id", "created_at", "campaign_id", "variant_key", "country", "segments",
            "price", "error_code")


def _pg_side(m: str, sign: str) -> str:
    table = "old_messages" if m == "o" else "new_messages"
    return (f"SELECT {_PG_DIMS.format(m=m)}, {sign}count(*), {sign}sum({m}.segments), {sign}sum({m}.price)"
            f" FROM {table} AS {m} GROUP BY {_GROUP}")


POSTGRES = [
    f"""
    CREATE OR REPLACE FUNCTION messaging_message_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_PG_DIMS.format(m="n")}, count(*), sum(n.segments), sum(n.price), false
        FROM new_messages AS n GROUP BY {_GROUP};
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION messaging_message_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_PG_DIMS.format(m="o")}, -count(*), -sum(o.segments), -sum(o.price), false
        FROM old_messages AS o GROUP BY {_GROUP};
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION messaging_message_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_NAMES}, sum(messages), sum(segments), sum(cost), false
        FROM ({_pg_side("o", "-")} UNION ALL {_pg_side("n", "")})
            AS d ({_NAMES}, messages, segments, cost)
        GROUP BY {_GROUP}
        HAVING sum(messages) <> 0 OR sum(segments) <> 0 OR sum(cost) <> 0;
        RETURN NULL;
    END $$
    """,
    "DELETE FROM messaging_messagestat",
    f"""
    INSERT INTO messaging_messagestat ({_COLUMNS})
    SELECT {_PG_DIMS.format(m="m")}, count(*), sum(m.segments), sum(m.price), true
    FROM messaging_message AS m GROUP BY {_GROUP}
    """,
]

_SQLITE_BUCKET = "strftime('%Y-%m-%d %H:00:00', {m}.created_at)"
_SQLITE_DIMS = (
    "{m}.account_id, " + _SQLITE_BUCKET + ", COALESCE({m}.campaign_id, 0), {m}.variant_key, {m}.country,"
    " COALESCE({m}.gateway_id, 0), {m}.status, {m}.error_code"
)
# SQLite rebuilds messaging_messagestat to add the column; triggers naming it would break the rename.
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS messaging_message_stats_insert",
    "DROP TRIGGER IF EXISTS messaging_message_stats_update",
    "DROP TRIGGER IF EXISTS messaging_message_stats_delete",
]
SQLITE = [
    f"""
    CREATE TRIGGER messaging_message_stats_insert AFTER INSERT ON messaging_message
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        VALUES ({_SQLITE_DIMS.format(m="NEW")}, 1, NEW.segments, NEW.price, 0);
    END
    """,
    f"""
    CREATE TRIGGER messaging_message_stats_update AFTER UPDATE OF {", ".join(_COUNTED)} ON messaging_message
    WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _COUNTED)}
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        VALUES ({_SQLITE_DIMS.format(m="OLD")}, -1, -OLD.segments, -OLD.price, 0),
               ({_SQLITE_DIMS.format(m="NEW")}, 1, NEW.segments, NEW.price, 0);
    END
    """,
    f"""
    CREATE TRIGGER messaging_message_stats_delete AFTER DELETE ON messaging_message
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        VALUES ({_SQLITE_DIMS.format(m="OLD")}, -1, -OLD.segments, -OLD.price, 0);
    END
    """,
    "DELETE FROM messaging_messagestat",
    f"""
    INSERT INTO messaging_messagestat ({_COLUMNS})
    SELECT {_SQLITE_DIMS.format(m="m")}, count(*), sum(m.segments), round(sum(m.price), 4), 1
    FROM messaging_message AS m GROUP BY {_GROUP}
    """,
]


def _drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            for sql in SQLITE_DROP:
                cursor.execute(sql)


def _forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES, "sqlite": SQLITE}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"message stats have no triggers for {vendor}")
    with schema_editor.connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)  # no parameters: the % of strftime is SQL, not a placeholder


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0005_outbound_webhooks'),
    ]

    operations = [
        migrations.RunPython(_drop_sqlite_triggers, migrations.RunPython.noop),
        migrations.AddField(
            model_name='messagestat',
            name='error_code',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.RunPython(_forward, migrations.RunPython.noop),
    ]
