"""Liveness and readiness: the same checks back /readyz and `manage.py check_status`."""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _timed(check):
    started = time.perf_counter()
    try:
        detail = check()
        result = {"ok": True, "detail": detail}
    except Exception as exc:  # any failure means "not ready"; the message says why
        result = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _check_redis():
    if not settings.REDIS_URL:
        return "embedded (no REDIS_URL; in-process cache)"
    from django_redis import get_redis_connection

    get_redis_connection("default").ping()
    return "redis"


def _check_broker():
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager (no CELERY_BROKER_URL; tasks run in-process)"
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return conn.transport_cls if isinstance(conn.transport_cls, str) else "broker"


def readiness():
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "broker": _timed(_check_broker),
    }
    return all(c["ok"] for c in checks.values()), checks


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    ready, checks = readiness()
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
