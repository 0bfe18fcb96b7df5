"""Liveness and readiness: the same checks back /readyz and `manage.py check_status`."""

import logging
import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"


def _timed(name, check):
    started = time.perf_counter()
    try:
        detail = check()
        result = {"ok": True, "detail": detail}
    except Exception as exc:  # any failure means "not ready"
        # The exception text (hosts, ports, driver messages) is for operators: logged and shown by
        # check_status, never sent by the unauthenticated /readyz.
        logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
        result = {"ok": False, "detail": UNAVAILABLE, "error": f"{type(exc).__name__}: {exc}"}
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

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return conn.transport_cls if isinstance(conn.transport_cls, str) else "broker"


def readiness():
    """(ready, checks); a failed check carries its exception text in "error" (not for HTTP answers)."""
    checks = {
        "database": _timed("database", _check_database),
        "redis": _timed("redis", _check_redis),
        "broker": _timed("broker", _check_broker),
    }
    return all(c["ok"] for c in checks.values()), checks


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    ready, checks = readiness()
    public = {name: {k: v for k, v in check.items() if k != "error"} for name, check in checks.items()}
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": public}, status=200 if ready else 503)
