"""Periodic dedup work (Celery beat): garbage collection ("dedup-gc") and storage snapshots ("dedup-storage")."""

import logging

from celery import shared_task

from dedup import services

log = logging.getLogger(__name__)


@shared_task(name="dedup.tasks.collect_garbage", acks_late=True)
def collect_garbage(organization_id=None, limit=100_000):
    """Incremental mark-and-sweep; safe to re-run after a crash (acks_late: redelivered, idempotent)."""
    ids = [organization_id] if organization_id else services.organizations_with_data()
    reports = [services.collect_garbage(org_id, limit=limit) for org_id in ids]
    removed = services.remove_stale_temporaries()
    for report in reports:
        log.info("dedup gc: %s", report)
    return {"organizations": reports, "temporaries_removed": removed}


@shared_task(name="dedup.tasks.snapshot_storage", acks_late=True, soft_time_limit=1500, time_limit=1700)
def snapshot_storage():
    """Today's StorageDaily rows (idempotent: a re-run overwrites the day's snapshot)."""
    count = services.snapshot_storage()
    log.info("dedup storage snapshot: %s namespaces", count)
    return count
