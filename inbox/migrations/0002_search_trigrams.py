"""The inbox's search is "contains" (a word in the middle of a text, part of a number): on PostgreSQL, trigram
indexes serve it; SQLite scans, which suits an embedded instance's size."""

from django.db import migrations

INDEXES = {
    "conversation_text_trgm": "inbox_conversation USING gin (upper(last_text::text) gin_trgm_ops)",
    "conversation_number_trgm": "inbox_conversation USING gin (contact_number gin_trgm_ops)",
    "inbound_body_trgm": "inbox_inboundmessage USING gin (upper(body) gin_trgm_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # a trusted extension: no superuser needed
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_inbox")]
    operations = [migrations.RunPython(create, drop)]
