"""Reads for the cache API: usage figures of a namespace (GET /api/cache/stats), namespace ids for the auth cache."""

import datetime

from cache_api import metering

STATS_DAYS = 30


def with_rate(figures):
    gets = figures["hits"] + figures["misses"]
    return {
        "requests": figures["requests"],
        "hits": figures["hits"],
        "misses": figures["misses"],
        "hit_rate": round(figures["hits"] / gets, 4) if gets else 0.0,
        "bytes_served": figures["bytes_served"],
        "bytes_written": figures["bytes_written"],
    }


FIGURES = ("requests", "hits", "misses", "bytes_served", "bytes_written")
LIVE_DAYS = 2  # yesterday's counters may hold late requests until the next rollup


def usage_figures(organization_id, namespace_id, today):
    """{date: figures} for the last STATS_DAYS days and today, exact while the rollup runs.

    Rolled-up rows (portal.selectors.usage_days) plus the counters not yet in them. A batch
    the rollup has drained but not yet applied is added; one it has applied is not. If a
    batch gets applied between our reads (the applied count moved), read again.
    """
    from portal.models import AppliedUsageBatch
    from portal.selectors import usage_days

    start = today - datetime.timedelta(days=STATS_DAYS)
    live_days = [today - datetime.timedelta(days=back) for back in range(LIVE_DAYS)]
    pair = (organization_id, namespace_id)
    applied_batches = AppliedUsageBatch.objects.filter(
        organization_id=organization_id, namespace_id=namespace_id, day__in=live_days
    )
    for _attempt in range(3):
        before = applied_batches.count()
        rows = usage_days(organization_id, namespace_id, start, today)
        live = {day: metering.live_and_pending_many([pair], day)[pair] for day in live_days}
        if applied_batches.count() == before:
            break
    by_date = {row["date"]: {name: row[name] for name in FIGURES} for row in rows}
    for day, (live_counts, batch, pending_counts) in live.items():
        extra = {name: live_counts[name] for name in FIGURES}
        if batch and not AppliedUsageBatch.objects.filter(batch_id=batch).exists():
            for name in FIGURES:
                extra[name] += pending_counts[name]
        if any(extra.values()) or day == today:
            figures = by_date.setdefault(day.isoformat(), dict.fromkeys(FIGURES, 0))
            for name in FIGURES:
                figures[name] += extra[name]
    return by_date


def namespace_id(organization_id, name):
    """Id of the organization's namespace of that name, or None (also for name None)."""
    from tenants.models import Namespace

    if name is None:
        return None
    return Namespace.objects.filter(organization_id=organization_id, name=name).values_list("id", flat=True).first()


def namespace_ids(organization_id):
    """Ids of all the organization's namespaces (their auth tokens move on an auth change)."""
    from tenants.models import Namespace

    return list(Namespace.objects.filter(organization_id=organization_id).values_list("id", flat=True))
