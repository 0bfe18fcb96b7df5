"""Daily snapshots of what each namespace holds: files, logical bytes, stored (distinct chunk) bytes."""

import datetime

import pytest
from django.utils import timezone

from dedup import chunking, services, tasks
from dedup.models import StorageDaily
from tests.dedup.conftest import firmware
from tests.dedup.test_store import edit

pytestmark = pytest.mark.django_db


def distinct_chunk_bytes(*contents):
    """Computed apart from the store: cut each content with the namespace's profile, sum distinct chunks."""
    profile = chunking.get_profile(chunking.DEFAULT_PROFILE)
    sizes = {}
    for data in contents:
        for digest, size in chunking.chunk_digests(profile, data):
            sizes[digest] = size
    return sum(sizes.values())


def test_snapshot_records_files_logical_and_stored_bytes_per_day(tenant):
    v1 = firmware(900_000, seed=91)
    v2 = edit(v1, seed=92)
    tenant.put("fw/v1.bin", v1)
    tenant.put("fw/v2.bin", v2)
    today = timezone.now().date()

    assert tasks.snapshot_storage() == 1
    row = StorageDaily.objects.get(namespace=tenant.namespace, day=today)
    assert (row.files, row.logical_bytes) == (2, len(v1) + len(v2))
    assert row.stored_bytes == distinct_chunk_bytes(v1, v2) < len(v1) + len(v2)

    # A later snapshot the same day replaces the day's figures instead of adding a row.
    tenant.delete("fw/v2.bin")
    services.snapshot_storage()
    row = StorageDaily.objects.get(namespace=tenant.namespace, day=today)
    assert (row.files, row.logical_bytes, row.stored_bytes) == (1, len(v1), distinct_chunk_bytes(v1))

    # Emptied the next day: that day still gets its (zero) row, so charts do not keep the old figure.
    tenant.delete("fw/v1.bin")
    tomorrow = today + datetime.timedelta(days=1)
    services.snapshot_storage(day=tomorrow)
    row = StorageDaily.objects.get(namespace=tenant.namespace, day=tomorrow)
    assert (row.files, row.logical_bytes, row.stored_bytes) == (0, 0, 0)
    # ...and only that one: an empty namespace stays out of later snapshots until it holds files again.
    assert services.snapshot_storage(day=tomorrow + datetime.timedelta(days=1)) == 0
    assert not StorageDaily.objects.filter(day__gt=tomorrow).exists()


def test_stats_list_the_days_of_their_own_namespace_only(tenant, other_tenant):
    v1 = firmware(400_000, seed=93)
    tenant.put("a.bin", v1)
    tenant.put("copy.bin", v1)
    other_tenant.put("theirs.bin", firmware(300_000, seed=94))
    services.snapshot_storage()

    days = tenant.stats()["days"]
    assert days == [
        {
            "date": timezone.now().date().isoformat(),
            "files": 2,
            "logical_bytes": 2 * len(v1),
            "stored_bytes": distinct_chunk_bytes(v1),
            "dedup_ratio": round(2 * len(v1) / distinct_chunk_bytes(v1), 4),
        }
    ]
    assert [day["files"] for day in other_tenant.stats()["days"]] == [1]
