from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_functions(sender, connection, **kwargs):
    """SQLite has no hashint8extended: give it PostgreSQL's, so the preview's SQL runs on both."""
    if connection.vendor == "sqlite":
        from .assign import hashint8extended

        connection.connection.create_function("hashint8extended", 2, hashint8extended, deterministic=True)


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        connection_created.connect(_sqlite_functions, dispatch_uid="campaigns.sqlite_functions")
