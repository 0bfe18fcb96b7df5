"""Celery tasks of the portal: usage rollup, applied-batch pruning, weekly reports.

All are acks_late (a worker killed mid-run leaves the message for another worker; the
rollup is idempotent, so running it again is safe) and have time limits below the beat interval.
"""

import datetime
import logging

from celery import shared_task

from portal import services

logger = logging.getLogger(__name__)


@shared_task(name="portal.rollup_usage", acks_late=True, soft_time_limit=240, time_limit=270, ignore_result=True)
def rollup_usage(days=None):
    """Fold live counters into UsageDaily; `days` are ISO dates (default: every UTC day since the last complete run)."""
    parsed = [datetime.date.fromisoformat(day) for day in days] if days else None
    result = services.rollup_usage(parsed)
    return {"days": result.days, "applied": result.applied, "requests": result.requests}


@shared_task(name="portal.prune_usage_batches", acks_late=True, soft_time_limit=240, time_limit=270)
def prune_usage_batches():
    return services.prune_applied_batches()


@shared_task(name="portal.send_weekly_reports", acks_late=True, soft_time_limit=1500, time_limit=1800)
def send_weekly_reports():
    """Monday's report to every active organization's owners, for the week that just ended."""
    from portal import reports

    sent = reports.send_all_weekly_reports()
    logger.info("weekly reports sent to %d organizations", sent)
    return sent
