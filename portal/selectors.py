"""Reads of usage data: rolled-up rows, plus the live counters not yet rolled up."""

import datetime
from dataclasses import dataclass
from types import SimpleNamespace

from cache_api import metering
from portal import figures, pricing
from portal.models import AppliedUsageBatch, UsageDaily, UsageRollupMark
from tenants.models import Namespace

DAY_FIELDS = ("requests", "hits", "misses", "bytes_served", "bytes_written")


def usage_days(organization_id, namespace_id, start, end):
    """Rolled-up rows of one namespace from start to end (inclusive dates), oldest first.

    Each item is {"date": "YYYY-MM-DD", "requests", "hits", "misses", "bytes_served", "bytes_written"};
    days without a row are absent. Filtering on the organization too means a namespace id from
    another organization yields nothing.
    """
    rows = (
        UsageDaily.objects.filter(organization_id=organization_id, namespace_id=namespace_id, day__range=(start, end))
        .order_by("day")
        .values("day", *DAY_FIELDS)
    )
    return [{"date": row.pop("day").isoformat(), **row} for row in rows]


# --- Rows plus live counters ---------------------------------------------------

LIVE_DAYS_BACK = 1  # yesterday's counters may still hold requests in flight at midnight until the next rollup
LOOKBACK_DAYS = metering.COUNTER_TTL_SECONDS // 86400  # older live counters have expired
READ_ATTEMPTS = 3


def live_window(start, end, today):
    """Days of [start, end] whose live counters may not be in UsageDaily yet: yesterday and today, and
    every day after the last complete default rollup (beat down for days), back to the counters' TTL."""
    mark = UsageRollupMark.objects.filter(name=UsageRollupMark.USAGE).values_list("day", flat=True).first()
    floor = today - datetime.timedelta(days=LOOKBACK_DAYS)
    first = today - datetime.timedelta(days=LIVE_DAYS_BACK)
    first = floor if mark is None else max(floor, min(first, mark + datetime.timedelta(days=1)))
    return list(figures.date_range(max(first, start), min(end, today)))


@dataclass
class Usage:
    """Per (day, namespace) figures for a date range: UsageDaily rows plus counters not yet rolled up."""

    organization_id: int
    start: datetime.date
    end: datetime.date
    today: datetime.date
    namespaces: dict  # id -> name
    rows: list  # dicts: date (date), namespace_id, namespace, SUM_FIELDS..., cost_saved_usd (Decimal)
    prices: dict  # namespace id -> pricing.EgressPrice
    consistent: bool = True

    def price_notes(self):
        """[(EgressPrice, [namespace names])]: which price the dollars of which namespaces used."""
        grouped = {}
        for ns_id, name in self.namespaces.items():
            grouped.setdefault(self.prices[ns_id], []).append(name)
        return sorted(grouped.items(), key=lambda item: item[1])

    def totals(self):
        totals = figures.empty_totals()
        for row in self.rows:
            figures.add_into(totals, row)
        return figures.with_rates(totals)

    def per_day(self):
        """One summed entry per calendar day of the range (zeros where nothing happened)."""
        by_day = {day: figures.empty_totals() for day in figures.date_range(self.start, self.end)}
        for row in self.rows:
            figures.add_into(by_day[row["date"]], row)
        return [{"date": day, **figures.with_rates(totals)} for day, totals in by_day.items()]

    def elapsed_days(self):
        return figures.elapsed_days(self.start, self.end, self.today)


def _applied_count(organization_id, days):
    return AppliedUsageBatch.objects.filter(organization_id=organization_id, day__in=days).count()


def _applied_among(batch_ids):
    if not batch_ids:
        return set()
    return set(AppliedUsageBatch.objects.filter(batch_id__in=batch_ids).values_list("batch_id", flat=True))


def usage(organization, start, end, namespace_ids=None, today=None):
    """Exact usage of an organization: what the rollup stored plus what it has not yet folded in.

    Readers race the rollup: a batch moving from Redis to the database between our two
    reads would be counted twice or not at all. The count of applied batches for the live
    days is read before and after; if it moved, read again. A pending batch that is already
    applied (committed, not yet finished) is left out of the live part.
    """
    today = today or metering.utc_today()
    namespaces = Namespace.objects.filter(organization_id=organization.id).order_by("name")
    if namespace_ids is not None:
        namespaces = namespaces.filter(id__in=list(namespace_ids))
    names = dict(namespaces.values_list("id", "name"))
    prices = pricing.namespace_prices(organization.id, names)
    pairs = [(organization.id, ns_id) for ns_id in names]
    live_days = live_window(start, end, today) if names else []
    if names:
        # Batches a crashed rollup left pending on older days are not in UsageDaily either.
        stranded = {day for days in metering.pending_days_many(pairs).values() for day in days}
        live_days = sorted(set(live_days) | {day for day in stranded if start <= day <= end})
    consistent, live, applied = True, {}, set()
    for attempt in range(READ_ATTEMPTS):
        before = _applied_count(organization.id, live_days) if live_days and names else None
        stored = list(
            UsageDaily.objects.filter(organization_id=organization.id, namespace_id__in=list(names))
            .filter(day__range=(start, end))
            .values("day", "namespace_id", *figures.SUM_FIELDS, "cost_saved_usd")
        )
        if before is None:
            break
        live = metering.live_and_pending_days(pairs, live_days)
        pending_ids = [batch for per_day in live.values() for (_live, batch, _pending) in per_day.values() if batch]
        settled = _applied_count(organization.id, live_days) == before
        if settled or attempt == READ_ATTEMPTS - 1:
            # Not settled after every attempt: the rollup kept moving under us; serve the last read.
            consistent = settled
            applied = _applied_among(pending_ids)
            break
    rows = {}
    for item in stored:
        day, ns_id = item.pop("day"), item["namespace_id"]
        rows[(day, ns_id)] = {"date": day, "namespace": names[ns_id], **item}
    for day, per_pair in live.items():
        for (_org_id, ns_id), (live_counts, batch, pending_counts) in per_pair.items():
            extra = dict(live_counts)
            if batch and batch not in applied:
                for name in metering.COUNTER_FIELDS:
                    extra[name] += pending_counts[name]
            if not any(extra.values()):
                continue
            row = rows.get((day, ns_id))
            if row is None:
                row = rows[(day, ns_id)] = {
                    "date": day,
                    "namespace_id": ns_id,
                    "namespace": names[ns_id],
                    **figures.empty_totals(),
                }
            for name in metering.COUNTER_FIELDS:
                row[name] += extra[name]
            row["bandwidth_saved_bytes"] = figures.bandwidth_saved(
                row["bytes_served"], row["upload_bytes_saved"], row["file_bytes_served"], row["origin_hit_bytes"]
            )
            row["cost_saved_usd"] = figures.cost_saved(row["bandwidth_saved_bytes"], prices[ns_id].usd_per_gb)
    ordered = sorted(rows.values(), key=lambda r: (r["date"], r["namespace"]))
    return Usage(
        organization_id=organization.id,
        start=start,
        end=end,
        today=today,
        namespaces=names,
        rows=ordered,
        prices=prices,
        consistent=consistent,
    )


def summary(organization, start, end, today=None, namespace_ids=None):
    """The figures of the dashboard and of the weekly report (one function, so they agree)."""
    result = usage(organization, start, end, namespace_ids=namespace_ids, today=today)
    totals = result.totals()
    return {
        "usage": result,
        "totals": totals,
        "per_day": result.per_day(),
        "projections": figures.projections(totals["cost_saved_usd"], result.elapsed_days()),
        "price_notes": result.price_notes(),
        "days": (end - start).days + 1,
    }


# --- Dedup stats and CDN evaluations (read through the owning apps' selectors) ---------

DEDUP_NODES = ("file_dedup_cache", "seagate_lyve_connector")
CDN_NODES = ("cdn_accelerator", "desktop_cdn")


def namespace_context(namespace):
    """The two attributes the dedup/cdn_eval selectors read from an API TenantContext."""
    return SimpleNamespace(
        organization_id=namespace.organization_id, namespace=SimpleNamespace(id=namespace.id, name=namespace.name)
    )


def dedup_stats(organization):
    """[(namespace, stats dict from dedup.pricing.namespace_stats)] for namespaces with a dedup node."""
    from dedup.pricing import namespace_stats

    namespaces = [
        ns
        for ns in Namespace.objects.filter(organization=organization).order_by("name")
        if any(node in ns.nodes for node in DEDUP_NODES)
    ]
    return [(ns, namespace_stats(namespace_context(ns))) for ns in namespaces]


def cdn_evaluations(organization, limit=50):
    """[(namespace, [Evaluation without result])] for every namespace that has evaluations or a CDN node."""
    from cdn_eval.selectors import list_evaluations

    out = []
    for ns in Namespace.objects.filter(organization=organization).order_by("name"):
        evaluations = list_evaluations(namespace_context(ns), limit=limit)
        if evaluations or any(node in ns.nodes for node in CDN_NODES):
            out.append((ns, evaluations))
    return out


def cdn_evaluation(organization, evaluation_id):
    """(namespace, Evaluation) if the evaluation belongs to one of the organization's namespaces, else None."""
    from cdn_eval.selectors import get_evaluation

    for ns in Namespace.objects.filter(organization=organization):
        evaluation = get_evaluation(namespace_context(ns), evaluation_id)
        if evaluation is not None:
            return ns, evaluation
    return None


def storage_used(organization):
    """Bytes the dedup store holds for the organization (what the plan's storage quota counts), or None."""
    try:
        from dedup.models import OrgStorage
    except ImportError:
        return None
    return (
        OrgStorage.objects.filter(organization_id=organization.id).values_list("stored_bytes", flat=True).first() or 0
    )
