"""Prefix search (LIKE 'abc%') can use an ordinary btree index only under the C collation.

Elsewhere PostgreSQL needs text_pattern_ops indexes; SQLite and C-collated databases need nothing more.
"""

from django.db import migrations

INDEXES = {
    "contact_phone_prefix": "(account_id, phone_number text_pattern_ops)",
    "contact_last_name_prefix": "(account_id, lower(last_name) text_pattern_ops)",
    "contact_first_name_prefix": "(account_id, lower(first_name) text_pattern_ops)",
    "contact_org_prefix": "(account_id, lower(organization_name) text_pattern_ops)",
}


def _needs_pattern_ops(schema_editor) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        collation = cursor.fetchone()[0]
    return collation not in ("C", "POSIX", "C.UTF-8", "C.utf8")


def create(apps, schema_editor):
    if _needs_pattern_ops(schema_editor):
        for name, columns in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON contacts_contact {columns}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
