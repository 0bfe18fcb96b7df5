"""PostgreSQL unreachable: 503 database_unavailable with Retry-After (never a 500), and a failed
last_used_at write never fails a cache request.

The outage is simulated at the connection (ensure_connection raising OperationalError, as Django
does when PostgreSQL refuses connections), or by failing UPDATE statements with execute_wrapper:
what is under test is the error mapping, not PostgreSQL.
"""

import contextlib

import pytest
from django.db import OperationalError, connection

from cache_api import authcache
from tests.cache_api.conftest import ENDPOINT_BODIES, call
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REQUESTS = ENDPOINT_BODIES


@contextlib.contextmanager
def database_down(monkeypatch):
    def refuse():
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    with monkeypatch.context() as patch:
        patch.setattr(connection, "ensure_connection", refuse)
        yield


def unavailable(response):
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("endpoint", REQUESTS)
def test_cold_key_with_the_database_down_is_503(store_kind, tenant, monkeypatch, endpoint):
    with database_down(monkeypatch):
        unavailable(call(tenant.client(), endpoint, REQUESTS[endpoint]))
    assert call(tenant.client(), endpoint, REQUESTS[endpoint]).status_code == 200  # back by itself


def test_stats_reading_usage_rows_with_the_database_down_is_503(store_kind, tenant, monkeypatch):
    client = tenant.client()
    assert call(client, "stats").status_code == 200  # key resolved and cached: only the usage read needs SQL
    with database_down(monkeypatch):
        unavailable(call(client, "stats"))


def test_other_drf_views_map_a_lost_database_to_503(client, monkeypatch):
    user = UserFactory()
    with database_down(monkeypatch):
        unavailable(
            client.post("/api/auth/login", {"email": user.email, "password": "x"}, content_type="application/json")
        )


def fail_updates(execute, sql, params, many, context):
    if sql.lstrip().upper().startswith("UPDATE"):
        raise OperationalError("server closed the connection unexpectedly")
    return execute(sql, params, many, context)


def test_failed_last_used_write_never_fails_a_request(store_kind, tenant):
    client = tenant.client()
    with connection.execute_wrapper(fail_updates):
        # Cold: the key is read from the database, its touch fails.
        assert call(client, "get", {"key": "k"}).status_code == 200
        # Warm, a minute later: the periodic touch fails.
        entry = authcache.lookup(tenant.plaintext, tenant.namespace.name)
        entry.touched_at -= authcache.TOUCH_EVERY_SECONDS
        assert call(client, "set", {"key": "k", "value": 1}).status_code == 200
    tenant.api_key.refresh_from_db()
    assert tenant.api_key.last_used_at is None
