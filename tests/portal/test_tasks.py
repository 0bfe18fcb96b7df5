"""The rollup task on a real Celery worker consuming from the real broker (RabbitMQ in CI)."""

import datetime
import os
import time
import uuid

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from kombu import Queue

import portal.tasks  # noqa: F401  (registers the shared tasks on every app)
from cache_api import metering
from portal.models import UsageDaily

BROKER_URL = os.environ.get("AGENTCACHE_TEST_BROKER_URL", "")
REQUIRE = os.environ.get("AGENTCACHE_REQUIRE_SERVICES") == "1"

needs_broker = pytest.mark.skipif(
    not BROKER_URL and not REQUIRE,
    reason="set AGENTCACHE_TEST_BROKER_URL (e.g. amqp://guest:guest@127.0.0.1:5672//) to run on a real broker",
)


@pytest.fixture
def worker_app():
    if not BROKER_URL:
        pytest.fail("AGENTCACHE_REQUIRE_SERVICES=1 but AGENTCACHE_TEST_BROKER_URL is not set")
    # A private app and an auto-deleted queue of our own, so parallel runs sharing the broker never
    # take each other's messages.
    queue = f"portal-test-{uuid.uuid4().hex[:12]}"
    app = Celery("portal-tests", broker=BROKER_URL, set_as_current=False)
    app.conf.update(
        task_always_eager=False,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue,
        task_queues=[Queue(queue, auto_delete=True)],
        broker_connection_retry_on_startup=False,
    )
    app.test_queue = queue

    def close_connections(**kwargs):
        # Worker threads keep persistent connections (CONN_MAX_AGE); close them so the test database can be dropped.
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    yield app
    task_postrun.disconnect(close_connections)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.services
@needs_broker
@pytest.mark.django_db(transaction=True)  # the worker thread uses its own database connection
def test_rollup_task_runs_on_a_real_worker_and_duplicates_do_not_double(worker_app, organization):
    day = metering.utc_today()
    cdn = organization.namespaces.get(name="cdn")
    metering.add_counts(organization.id, cdn.id, day, requests=12, hits=9, misses=3, bytes_served=900)

    with start_worker(
        worker_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        # The event loop only notices shutdown when it wakes: a short timer keeps the stop at ~0.25 s, not 10 s.
        worker.hub.call_repeatedly(0.25, lambda: None)
        # Two deliveries at once, as beat plus a manual run (or a redelivered message) would cause.
        for _ in range(2):
            worker_app.send_task("portal.rollup_usage", args=[[day.isoformat()]], queue=worker_app.test_queue)

        def rolled_up():
            row = UsageDaily.objects.filter(namespace=cdn, day=day).first()
            return row is not None and row.requests == 12

        assert wait_for(rolled_up), "the worker did not roll the counters up within 30 s"
        # More traffic, another run through the broker.
        metering.add_counts(organization.id, cdn.id, day, requests=1, misses=1)
        worker_app.send_task("portal.rollup_usage", args=[[day.isoformat()]], queue=worker_app.test_queue)
        assert wait_for(lambda: UsageDaily.objects.get(namespace=cdn, day=day).requests == 13)
        time.sleep(0.5)  # let any straggling duplicate finish before the final check

    row = UsageDaily.objects.get(namespace=cdn, day=day)
    assert (row.requests, row.hits, row.misses, row.bytes_served) == (13, 9, 4, 900)
    assert metering.live_counts(organization.id, cdn.id, day)["requests"] == 0


def test_tasks_are_acks_late_with_time_limits():
    for task in (portal.tasks.rollup_usage, portal.tasks.prune_usage_batches, portal.tasks.send_weekly_reports):
        assert task.acks_late is True
        assert task.time_limit and task.soft_time_limit and task.soft_time_limit < task.time_limit


def test_beat_schedule_runs_the_rollup_every_few_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["portal-rollup-usage"]
    assert entry["task"] == "portal.rollup_usage" and entry["schedule"] <= 600
    weekly = settings.CELERY_BEAT_SCHEDULE["portal-weekly-reports"]["schedule"]
    assert weekly.day_of_week == {1}  # Monday
    assert portal.tasks.rollup_usage.time_limit < entry["schedule"]
    assert datetime.timedelta(seconds=entry["options"]["expires"]) < datetime.timedelta(seconds=entry["schedule"])
