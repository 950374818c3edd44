"""GET /healthz, and the worker heartbeat it reads."""

import time

from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from smsportal.celery import app as celery_app

HEARTBEAT_KEY = "health:worker-heartbeat"
HEARTBEAT_STALE_AFTER = 60  # seconds; beat sends one every 10 s


@shared_task(name="smsportal.health.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> dict:
    now = time.time()
    cache.set(HEARTBEAT_KEY, now, timeout=HEARTBEAT_STALE_AFTER * 10)
    return {"at": now}


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"status": "ok", "vendor": connection.vendor}
    except Exception as exc:  # any failure to reach the database is what we report
        return {"status": "error", "vendor": connection.vendor, "error": str(exc)[:200]}


def _check_broker() -> dict:
    transport = celery_app.conf.broker_url.split("://", 1)[0]
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"status": "ok", "transport": transport}
    except Exception as exc:
        return {"status": "error", "transport": transport, "error": str(exc)[:200]}


def _check_worker() -> dict:
    try:
        last = cache.get(HEARTBEAT_KEY)
    except Exception as exc:
        return {"status": "unknown", "error": str(exc)[:200]}
    if last is None:
        return {"status": "missing", "last_heartbeat": None}
    age = time.time() - float(last)
    return {
        "status": "ok" if age <= HEARTBEAT_STALE_AFTER else "stale",
        "last_heartbeat": int(last),
        "age_seconds": round(age, 1),
    }


def healthz(request):
    """200 while the database answers (the web tier can serve); the body says what else is up."""
    checks = {"database": _check_database(), "broker": _check_broker(), "worker": _check_worker()}
    healthy = all(checks[name]["status"] == "ok" for name in checks)
    status = 200 if checks["database"]["status"] == "ok" else 503
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=status)
