"""Message stats: the MessageStat table, the triggers on messaging_message that append its delta rows, and a
backfill so a database with messages starts exact.

The SQL is spelled out here rather than imported from the app: a migration must keep doing what it did when it
was written. On PostgreSQL the triggers are per statement and read the statement's transition tables, so a
dispatcher's UPDATE of 500 rows appends a handful of aggregated rows, not 500; SQLite has no transition tables,
so there they are per row.
"""

from django.db import migrations, models

# A message's dims, from a messages row aliased `m`. date_bin from a UTC midnight is the UTC hour, like
# date_trunc('hour', created_at, 'UTC'), in plain arithmetic: half the price of that time zone lookup per row.
_PG_BUCKET = "date_bin('1 hour', {m}.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_PG_DIMS = (
    "{m}.account_id, " + _PG_BUCKET + ", COALESCE({m}.campaign_id, 0), {m}.variant_key, {m}.country,"
    " COALESCE({m}.gateway_id, 0), {m}.status"
)
_DIM_NAMES = ("account_id", "bucket", "campaign_id", "variant_key", "country", "gateway_id", "status")
_COLUMNS = ("account_id, bucket, campaign_id, variant_key, country, gateway_id, status, messages, segments, cost,"
            " squashed")
# What a message contributes to its stats: an UPDATE touching none of these leaves them as they were.
_COUNTED = ("status", "gateway_id", "account_id", "created_at", "campaign_id", "variant_key", "country", "segments",
            "price")


def _named(prefix: str) -> str:
    return ", ".join(f"{prefix}{d}" for d in _DIM_NAMES)


POSTGRES = [
    f"""
    CREATE FUNCTION messaging_message_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_PG_DIMS.format(m="n")}, count(*), sum(n.segments), sum(n.price), false
        FROM new_messages AS n
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION messaging_message_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_PG_DIMS.format(m="o")}, -count(*), -sum(o.segments), -sum(o.price), false
        FROM old_messages AS o
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
        RETURN NULL;
    END $$
    """,
    # Rows whose counted columns changed leave their old dims and join their new ones. The changed rows are
    # first grouped by (old dims, new dims) — a dispatcher's batch of 500 is one or two such moves — and only
    # those few groups are split into their -old and +new halves: splitting every row (a LATERAL VALUES per row)
    # cost 2 ms a 500-row statement, this 0.5 ms.
    f"""
    CREATE FUNCTION messaging_message_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_COLUMNS})
        SELECT {_named("d.")}, sum(d.messages), sum(d.segments), sum(d.cost), false
        FROM (
            SELECT {_PG_DIMS.format(m="o")}, {_PG_DIMS.format(m="n")},
                   count(*) AS moved, sum(o.segments) AS old_segments, sum(o.price) AS old_cost,
                   sum(n.segments) AS new_segments, sum(n.price) AS new_cost
            FROM old_messages AS o
            JOIN new_messages AS n ON n.id = o.id
            WHERE ({", ".join("o." + c for c in _COUNTED)}) IS DISTINCT FROM ({", ".join("n." + c for c in _COUNTED)})
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
        ) AS p ({_named("old_")}, {_named("new_")}, moved, old_segments, old_cost, new_segments, new_cost)
        CROSS JOIN LATERAL (VALUES
            ({_named("p.old_")}, -p.moved, -p.old_segments, -p.old_cost),
            ({_named("p.new_")}, p.moved, p.new_segments, p.new_cost)
        ) AS d ({_named("")}, messages, segments, cost)
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(d.messages) <> 0 OR sum(d.segments) <> 0 OR sum(d.cost) <> 0;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER messaging_message_stats_insert AFTER INSERT ON messaging_message
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_message_stats_insert()
    """,
    """
    CREATE TRIGGER messaging_message_stats_update AFTER UPDATE ON messaging_message
    REFERENCING OLD TABLE AS old_messages NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_message_stats_update()
    """,
    """
    CREATE TRIGGER messaging_message_stats_delete AFTER DELETE ON messaging_message
    REFERENCING OLD TABLE AS old_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_message_stats_delete()
    """,
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS messaging_message_stats_insert ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_stats_update ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_stats_delete ON messaging_message",
    "DROP FUNCTION IF EXISTS messaging_message_stats_insert()",
    "DROP FUNCTION IF EXISTS messaging_message_stats_update()",
    "DROP FUNCTION IF EXISTS messaging_message_stats_delete()",
]
POSTGRES_BACKFILL = f"""
    INSERT INTO messaging_messagestat ({_COLUMNS})
    SELECT {_PG_DIMS.format(m="m")}, count(*), sum(m.segments), sum(m.price), true
    FROM messaging_message AS m
    GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

# SQLite: Django stores datetimes there as naive UTC text, which strftime reads (an offset, if any, is honoured).
_SQLITE_BUCKET = "strftime('%Y-%m-%d %H:00:00', {m}.created_at)"
_SQLITE_DIMS = (
    "{m}.account_id, " + _SQLITE_BUCKET + ", COALESCE({m}.campaign_id, 0), {m}.variant_key, {m}.country,"
    " COALESCE({m}.gateway_id, 0), {m}.status"
)
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
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS messaging_message_stats_insert",
    "DROP TRIGGER IF EXISTS messaging_message_stats_update",
    "DROP TRIGGER IF EXISTS messaging_message_stats_delete",
]
SQLITE_BACKFILL = f"""
    INSERT INTO messaging_messagestat ({_COLUMNS})
    SELECT {_SQLITE_DIMS.format(m="m")}, count(*), sum(m.segments), round(sum(m.price), 4), 1
    FROM messaging_message AS m
    GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

_FORWARD = {"postgresql": POSTGRES + [POSTGRES_BACKFILL], "sqlite": SQLITE + [SQLITE_BACKFILL]}
_BACKWARD = {"postgresql": POSTGRES_DROP, "sqlite": SQLITE_DROP}


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"message stats have no triggers for {vendor}")
        with schema_editor.connection.cursor() as cursor:
            for sql in statements[vendor]:
                cursor.execute(sql)  # no parameters: the % of strftime is SQL, not a placeholder

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0002_due_index_with_id'),
    ]

    operations = [
        migrations.CreateModel(
            name='MessageStat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('account_id', models.BigIntegerField()),
                ('bucket', models.DateTimeField()),
                ('campaign_id', models.BigIntegerField(default=0)),
                ('variant_key', models.CharField(blank=True, max_length=64)),
                ('country', models.CharField(blank=True, max_length=2)),
                ('gateway_id', models.BigIntegerField(default=0)),
                ('status', models.CharField(max_length=12)),
                ('messages', models.BigIntegerField()),
                ('segments', models.BigIntegerField()),
                ('cost', models.DecimalField(decimal_places=4, max_digits=16)),
                ('squashed', models.BooleanField(default=False)),
            ],
            options={
                'indexes': [models.Index(fields=['account_id', 'bucket'], name='message_stat_account'), models.Index(condition=models.Q(('campaign_id', 0), _negated=True), fields=['campaign_id', 'status'], name='message_stat_campaign'), models.Index(condition=models.Q(('squashed', False)), fields=['squashed'], name='message_stat_unsquashed')],
            },
        ),
        # Triggers first, then the backfill, in the migration's transaction: on PostgreSQL CREATE TRIGGER locks
        # out writers to messages until it commits, so no write falls between the two.
        migrations.RunPython(_run(_FORWARD), _run(_BACKWARD)),
    ]
