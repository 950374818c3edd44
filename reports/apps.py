from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reads only, on top of the other apps: the dashboard, delivery reports, usage and /v3/statistics. It owns
    no tables; the figures come from messaging's stats rollup and the other apps' selectors."""

    name = "reports"
    verbose_name = "Reports"
