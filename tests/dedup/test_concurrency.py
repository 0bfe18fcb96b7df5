"""Concurrent writers on real PostgreSQL: row locks and ON CONFLICT are what keep the index exact."""

import threading

import pytest
from django.db import connections

from dedup import chunking, services
from dedup.models import Chunk, OrgStorage
from tests.dedup.conftest import body, make_tenant, random_bytes

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_threads(target, count):
    errors = []

    def wrapper(index):
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_concurrent_uploads_of_the_same_content_store_each_chunk_once():
    from rest_framework.test import APIClient

    tenant = make_tenant(APIClient())
    data = random_bytes(600_000, seed=81)
    statuses = []

    def upload(index):
        response = APIClient().put(
            f"/api/files/copy{index}.bin", data, content_type="application/octet-stream", **tenant.headers()
        )
        statuses.append(response.status_code)

    run_threads(upload, 4)
    assert statuses == [201] * 4
    digests = {d for d, _ in chunking.chunk_digests(chunking.PROFILES["small-v1"], data)}
    chunks = Chunk.objects.filter(organization=tenant.organization)
    assert {bytes(c.sha256).hex() for c in chunks} == digests
    assert all(c.refcount == 4 for c in chunks)
    assert OrgStorage.objects.get(organization=tenant.organization).stored_bytes == len(data)
    for index in range(4):
        assert body(tenant.get(f"copy{index}.bin")) == data


def test_gc_running_during_commits_never_leaves_a_dangling_manifest(settings):
    import time

    from rest_framework.test import APIClient

    settings.DEDUP_UPLOAD_GRACE_SECONDS = 2
    tenant = make_tenant(APIClient())
    data = random_bytes(300_000, seed=82)
    assert tenant.put("base.bin", data).status_code == 201
    tenant.delete("base.bin")
    time.sleep(2.1)  # every chunk unreferenced and past its grace period: GC and new uploads race for them
    statuses = []

    def work(index):
        if index % 2:
            services.collect_garbage(tenant.organization.id)
        else:
            response = APIClient().put(
                f"/api/files/f{index}.bin", data, content_type="application/octet-stream", **tenant.headers()
            )
            statuses.append(response.status_code)

    run_threads(work, 6)
    # Uploads that met collectable chunks protected them or stored them again: all committed.
    assert statuses == [201, 201, 201]
    report = services.verify_organization(tenant.organization.id)
    assert report["ok"], report
    for index in (0, 2, 4):
        response = tenant.get(f"f{index}.bin")
        assert body(response) == data
