import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsportal.settings")

app = Celery("smsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.imports = ("smsportal.health",)
app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "smsportal.health.worker_heartbeat", "schedule": 10.0},
    "messaging-tick": {"task": "messaging.tick", "schedule": 2.0},
    "campaigns-tick": {"task": "campaigns.tick", "schedule": 2.0},
    "inbox-tick": {"task": "inbox.tick", "schedule": 2.0},
}
