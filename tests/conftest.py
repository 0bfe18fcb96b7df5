"""Shared fixtures.

Tests that exercise PostgreSQL, Redis or the broker are marked `services`; on the
embedded defaults (no DATABASE_URL/REDIS_URL) they are skipped, unless
AGENTCACHE_REQUIRE_SERVICES=1 (set by .ci/run), which turns a missing service into a failure.
"""

import importlib
import os

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("AGENTCACHE_REQUIRE_SERVICES") == "1"


def redis_configured():
    return bool(settings.REDIS_URL)


def postgres_configured():
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    if REQUIRE_SERVICES:
        if not (redis_configured() and postgres_configured()):
            raise pytest.UsageError("AGENTCACHE_REQUIRE_SERVICES=1 but DATABASE_URL/REDIS_URL do not point at them.")
        return
    if redis_configured() and postgres_configured():
        return
    skip = pytest.mark.skip(reason="needs real PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Every test starts with an empty cache (the Redis DB given by REDIS_URL is the tests' own)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Plans and sectors exist in every test that uses the database.

    `migrate` seeds them, but transactional tests (live_server, threads) flush
    every table afterwards; re-seed with the migration's own function so later
    tests see what a migrated database holds.
    """
    db_fixtures = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "_django_db_helper"}
    if not db_fixtures & set(request.fixturenames) and not request.node.get_closest_marker("django_db"):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    from django.apps import apps as django_apps

    from tenants.models import Plan

    if not Plan.objects.exists():
        seed_module = importlib.import_module("tenants.migrations.0002_plans_and_sectors")
        seed_module.seed(django_apps, None)
    yield


@pytest.fixture(autouse=True)
def _local_store(tmp_path, settings):
    """Each test gets its own embedded cache store file (cache_api), so values and counters never leak."""
    settings.LOCAL_STORE_PATH = str(tmp_path / "localstore.sqlite3")


@pytest.fixture
def redis_client():
    if not redis_configured():
        pytest.skip("needs REDIS_URL")
    from django_redis import get_redis_connection

    return get_redis_connection("default")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
