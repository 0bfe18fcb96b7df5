"""Redis stopped mid-test: 503 cache_unavailable, everything else keeps working, recovery by itself.

Uses a private redis-server on a free port that this test starts and kills (never the shared one).
"""

import os
import shutil
import socket
import subprocess
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cache_api import authcache, stores
from tenants import auth
from tests.cache_api.conftest import call
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.services]


class PrivateRedis:
    def __init__(self, directory):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = directory
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def private_redis(tmp_path, settings):
    if not shutil.which("redis-server"):
        if os.environ.get("AGENTCACHE_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is required for the outage test")
        pytest.skip("redis-server not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = {
        **settings.CACHES,
        "outage": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 1)},
            },
        },
    }
    settings.CACHE_API_REDIS_ALIAS = "outage"
    stores.reset()
    authcache.clear()
    yield server
    if server.process.poll() is None:
        server.stop()
    stores.reset()


BODIES = {
    "set": {"key": "k", "value": 1},
    "get": {"key": "k"},
    "delete": {"key": "other"},
    "mget": {"keys": ["k"]},
    "mset": {"items": [{"key": "k", "value": 1}]},
    "stats": None,
}


def test_redis_down_gives_503_other_endpoints_work_and_it_recovers(private_redis, tenant, client):
    api = tenant.client()
    assert call(api, "set", {"key": "k", "value": "before"}).status_code == 200
    assert call(api, "get", {"key": "k"}).json()["value"] == "before"

    private_redis.stop()
    for endpoint, body in BODIES.items():
        started = time.monotonic()
        response = call(api, endpoint, body)
        assert response.status_code == 503, (endpoint, response.content)
        assert response.json()["error"]["code"] == "cache_unavailable"
        assert response["Retry-After"] == "1"
        assert time.monotonic() - started < 2
    # A fresh worker (empty in-process cache) also answers 503, not 500.
    authcache.clear()
    assert call(api, "get", {"key": "k"}).status_code == 503
    # The rest of the process keeps serving: health, another HTTP API that needs no Redis (session login),
    # and API-key auth for the other apps (database fallback).
    assert client.get("/healthz").status_code == 200
    user = UserFactory()
    login = client.post(
        "/api/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json"
    )
    assert login.status_code == 200, login.content
    assert login.json()["user"] == {"email": user.email}
    wrong = client.post("/api/auth/login", {"email": user.email, "password": "wrong"}, content_type="application/json")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    assert auth.resolve(tenant.plaintext, tenant.namespace.name).organization_id == tenant.organization.id
    with pytest.raises(auth.ApiError):
        auth.resolve(tenant.plaintext, "no-such-namespace")

    private_redis.start()  # same port, empty (no persistence): the process reconnects by itself
    got = call(api, "get", {"key": "k"})
    assert got.status_code == 200 and got.json() == {"hit": False, "key": "k"}
    assert call(api, "set", {"key": "k", "value": "after"}).status_code == 200
    assert call(api, "get", {"key": "k"}).json()["value"] == "after"
    assert call(api, "stats").json()["today"]["requests"] == 3
