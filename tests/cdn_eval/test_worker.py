"""The evaluation job on a real Celery worker consuming from the real broker (RabbitMQ in CI)."""

import os
import time
import uuid

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu import Queue

import cdn_eval.tasks
from cdn_eval import services
from cdn_eval.engine.synthetic import zipf_trace
from cdn_eval.models import Evaluation
from tests.cdn_eval.conftest import make_tenant, ndjson, records

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
    queue = f"cdn-eval-test-{uuid.uuid4().hex[:12]}"  # private queue: parallel runs never share messages
    app = Celery("cdn-eval-tests", broker=BROKER_URL, set_as_current=False)
    app.conf.update(
        task_always_eager=False,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue,
        task_queues=[Queue(queue, auto_delete=True)],
        broker_connection_retry_on_startup=False,
    )
    app.test_queue = queue
    yield app


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.services
@needs_broker
@pytest.mark.django_db(transaction=True)  # the worker thread uses its own database connection
def test_upload_job_runs_on_a_real_worker_and_a_redelivery_is_harmless(worker_app):
    tenant = make_tenant()
    path, size = services.spool([ndjson(records(zipf_trace(3000, 400, seed=8, median=20_000)))])
    evaluation = Evaluation.objects.create(
        organization=tenant.organization,
        namespace=tenant.namespace,
        source=Evaluation.Source.UPLOAD,
        options={"policies": ["lru", "sieve"]},
        input_path=path,
        input_bytes=size,
    )
    with start_worker(worker_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        for _ in range(2):  # a duplicate delivery, as after a worker crash with acks_late
            worker_app.send_task(
                cdn_eval.tasks.run_evaluation_task.name, args=[str(evaluation.id)], queue=worker_app.test_queue
            )
        assert wait_for(lambda: Evaluation.objects.get(id=evaluation.id).status == "done"), "job did not finish"
        time.sleep(0.5)
    evaluation.refresh_from_db()
    assert evaluation.result["requests"] == 3000 and evaluation.progress == 1.0
    assert evaluation.input_path == "" and not os.path.exists(path)


def test_task_is_acks_late_with_a_time_limit():
    task = cdn_eval.tasks.run_evaluation_task
    assert task.acks_late is True
    assert task.soft_time_limit < task.time_limit
