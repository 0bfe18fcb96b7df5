"""Writes of usage data: folding the live metering counters into UsageDaily, exactly once."""

import datetime
import logging
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cache_api import metering
from portal import figures, pricing
from portal.models import AppliedUsageBatch, UsageDaily, UsageRollupMark
from tenants.models import Membership, Namespace, Organization, User

logger = logging.getLogger(__name__)

ROLLUP_CHUNK = 200  # namespace-days applied per transaction
DERIVED_FIELDS = ("bandwidth_saved_bytes", "cost_saved_usd", "updated_at")
APPLIED_BATCH_RETENTION_DAYS = 60  # far beyond any run's lifetime; stranded batches are finished before pruning
# Live counters expire after this many days, so no default run needs to look further back.
LOOKBACK_DAYS = metering.COUNTER_TTL_SECONDS // 86400
PENDING_SCAN_CHUNK = 500  # namespaces whose pending-days sets are read in one round trip


@dataclass
class RollupResult:
    days: list
    namespaces: int = 0
    applied: int = 0  # batches added to UsageDaily by this run
    already_applied: int = 0  # batches an earlier or concurrent run had added: only finished here
    requests: int = 0  # requests folded in by this run
    per_day: dict = field(default_factory=dict)
    stranded_days: set = field(default_factory=set)  # older days visited for a pending batch left there


def default_rollup_days(now=None, last_complete=None):
    """The UTC days a default run visits: every day after the last fully rolled-up one, and always
    yesterday (its counters still receive requests in flight at midnight) and today.

    last_complete None: the previous day was rolled up (only yesterday and today). Beat or the
    workers being down for days leaves counters on older days: they are visited too, back to the
    counters' TTL (older live counters have expired).
    """
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    first = today - datetime.timedelta(days=1)
    if last_complete is not None:
        first = max(today - datetime.timedelta(days=LOOKBACK_DAYS), min(first, last_complete + datetime.timedelta(1)))
    return list(figures.date_range(first, today))


def last_complete_day():
    """The last UTC day whose counters every namespace had folded in (None before the first default run)."""
    return UsageRollupMark.objects.filter(name=UsageRollupMark.USAGE).values_list("day", flat=True).first()


def _mark_complete(day):
    mark, created = UsageRollupMark.objects.get_or_create(name=UsageRollupMark.USAGE, defaults={"day": day})
    if not created:
        UsageRollupMark.objects.filter(name=UsageRollupMark.USAGE, day__lt=day).update(day=day)  # never backwards


@dataclass(frozen=True)
class Drained:
    """One namespace-day's counters moved aside by metering.begin_drain, waiting to be applied."""

    organization_id: int
    namespace_id: int
    day: datetime.date
    batch_id: str
    counts: dict


def apply_batches(drained, prices):
    """Add drained batches to UsageDaily in one transaction; returns the batch ids this call applied.

    Each batch id is inserted (unique, ON CONFLICT DO NOTHING) in the same transaction as its
    counts, so a batch is in the database with its id or not at all. A batch an earlier or a
    concurrent run already recorded conflicts, is not tagged with this call's run id, and is
    skipped: applied exactly once. prices: {namespace_id: pricing.EgressPrice}.
    """
    if not drained:
        return set()
    run_id = uuid.uuid4().hex
    with transaction.atomic():
        AppliedUsageBatch.objects.bulk_create(
            [
                AppliedUsageBatch(
                    batch_id=item.batch_id,
                    run_id=run_id,
                    organization_id=item.organization_id,
                    namespace_id=item.namespace_id,
                    day=item.day,
                    counts=item.counts,
                )
                for item in drained
            ],
            ignore_conflicts=True,
        )
        mine = set(AppliedUsageBatch.objects.filter(run_id=run_id).values_list("batch_id", flat=True))
        todo = [item for item in drained if item.batch_id in mine]
        if not todo:
            return mine
        wanted = {(item.namespace_id, item.day): item.organization_id for item in todo}
        UsageDaily.objects.bulk_create(
            [
                UsageDaily(namespace_id=ns_id, day=day, organization_id=org_id)
                for (ns_id, day), org_id in wanted.items()
            ],
            ignore_conflicts=True,
        )
        locked = UsageDaily.objects.select_for_update().filter(
            namespace_id__in={ns_id for ns_id, _ in wanted}, day__in={day for _, day in wanted}
        )
        rows = {
            (row.namespace_id, row.day): row for row in locked.order_by("id") if (row.namespace_id, row.day) in wanted
        }
        for item in todo:
            row = rows[(item.namespace_id, item.day)]
            for name in metering.COUNTER_FIELDS:
                setattr(row, name, getattr(row, name) + int(item.counts.get(name, 0)))
        now = timezone.now()
        for (ns_id, _day), row in rows.items():
            row.bandwidth_saved_bytes = figures.bandwidth_saved(
                row.bytes_served, row.upload_bytes_saved, row.file_bytes_served, row.origin_hit_bytes
            )
            row.cost_saved_usd = figures.cost_saved(row.bandwidth_saved_bytes, prices[ns_id].usd_per_gb)
            row.updated_at = now
        _update_rows(rows.values())
    return mine


def _update_rows(rows):
    """One parameterised UPDATE sent for all rows (executemany): Django's bulk_update builds a CASE
    per field and row, which costs milliseconds per row to compile."""
    fields = [*metering.COUNTER_FIELDS, *DERIVED_FIELDS]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(UsageDaily._meta.db_table)} SET "
        + ", ".join(f"{quote(name)} = %s" for name in fields)
        + f" WHERE {quote('id')} = %s"
    )
    params = [
        [UsageDaily._meta.get_field(name).get_db_prep_save(getattr(row, name), connection) for name in fields]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def apply_batch(namespace, day, batch_id, counts, price):
    """One batch (tests and manual repair); False if it was already applied."""
    item = Drained(namespace.organization_id, namespace.id, day, batch_id, counts)
    return batch_id in apply_batches([item], {namespace.id: price})


def _prices_for(drained):
    prices = {}
    by_org = {}
    for item in drained:
        by_org.setdefault(item.organization_id, set()).add(item.namespace_id)
    for org_id, namespace_ids in by_org.items():
        prices.update(pricing.namespace_prices(org_id, namespace_ids))
    return prices


def _apply_and_finish(drained, result):
    try:
        applied = apply_batches(drained, _prices_for(drained))
    except IntegrityError:
        # Most likely a namespace deleted while we ran: apply one by one so the others still land.
        applied = set()
        for item in drained:
            try:
                applied |= apply_batches([item], _prices_for([item]))
            except IntegrityError:
                if Namespace.objects.filter(pk=item.namespace_id).exists():
                    raise
                logger.warning("namespace %s was deleted during the usage rollup; skipped", item.namespace_id)
    # Only now that the database holds the batches may the counters go.
    for item in drained:
        metering.finish_drain(item.organization_id, item.namespace_id, item.day, item.batch_id)
    for item in drained:
        if item.batch_id in applied:
            result.applied += 1
            result.requests += item.counts["requests"]
            key = item.day.isoformat()
            result.per_day[key] = result.per_day.get(key, 0) + item.counts["requests"]
        else:
            result.already_applied += 1


def rollup_usage(days=None, organization_ids=None, chunk_size=ROLLUP_CHUNK, now=None):
    """Fold live counters of every namespace (from the database, no Redis scan) into UsageDaily.

    Namespaces go in chunks: drain each namespace-day, apply the chunk's batches in one
    transaction, then finish them. A crash anywhere leaves pending batches that the next run
    applies (if the transaction had not committed) or just finishes (if it had): every run also
    visits the days in each namespace's pending-days set, however old.

    Without `days` (beat, the task): every day since the last complete default run, then that
    mark moves to yesterday, so counters survive beat or the workers being down for days.
    """
    default_run = days is None and organization_ids is None
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    if days is None:
        mark = last_complete_day()
        # No mark yet: no run has been seen to complete, so look back as far as counters live.
        mark = mark if mark is not None else today - datetime.timedelta(days=LOOKBACK_DAYS + 1)
        days = default_rollup_days(now, last_complete=mark)
    days = sorted(days)
    result = RollupResult(days=[d.isoformat() for d in days])
    namespaces = Namespace.objects.order_by("id").values_list("id", "organization_id")
    if organization_ids is not None:
        namespaces = namespaces.filter(organization_id__in=organization_ids)
    drained = []
    for group in _chunks(namespaces.iterator(chunk_size=2000), PENDING_SCAN_CHUNK):
        stranded = metering.pending_days_many([(org_id, ns_id) for ns_id, org_id in group])
        for namespace_id, organization_id in group:
            result.namespaces += 1
            extra = [day for day in stranded[(organization_id, namespace_id)] if day not in days]
            result.stranded_days.update(extra)
            for day in [*days, *extra]:
                moved = metering.begin_drain(organization_id, namespace_id, day)
                if moved is not None:
                    drained.append(Drained(organization_id, namespace_id, day, moved[0], moved[1]))
            if len(drained) >= chunk_size:
                _apply_and_finish(drained, result)
                drained = []
    _apply_and_finish(drained, result)
    if default_run:
        _mark_complete(today - datetime.timedelta(days=1))
    logger.info(
        "usage rollup days=%s stranded_days=%s namespaces=%d batches_applied=%d batches_already_applied=%d"
        " requests=%d per_day=%s",
        ",".join(result.days),
        ",".join(sorted(day.isoformat() for day in result.stranded_days)),
        result.namespaces,
        result.applied,
        result.already_applied,
        result.requests,
        result.per_day,
    )
    return result


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prune_applied_batches(now=None, keep_days=APPLIED_BATCH_RETENTION_DAYS):
    """Forget old AppliedUsageBatch records, but never one whose pending batch still exists.

    A batch applied by a run that died before finish_drain stays pending in Redis (no TTL); its
    record is what stops it being applied again. Such batches are finished here first, and any
    record whose pending batch is still there is kept.
    """
    cutoff = (now or timezone.now()).date() - datetime.timedelta(days=keep_days)
    old = AppliedUsageBatch.objects.filter(day__lt=cutoff)
    groups = list(old.values_list("organization_id", "namespace_id", "day").distinct())
    pending = {batch: item for item, batch in metering.pending_batches(groups).items() if batch}
    stranded = set(old.filter(batch_id__in=list(pending)).values_list("batch_id", flat=True))
    for batch_id in stranded:
        metering.finish_drain(*pending[batch_id], batch_id)  # applied already: only the counters go
    still = metering.pending_batches([pending[batch_id] for batch_id in stranded])
    keep = [batch for batch in still.values() if batch]
    deleted, _ = old.exclude(batch_id__in=keep).delete()
    logger.info(
        "pruned %d applied usage batch records older than %s (finished %d stranded batches, kept %d)",
        deleted,
        cutoff,
        len(stranded) - len(keep),
        len(keep),
    )
    return deleted


# --- Members -------------------------------------------------------------------


class MemberError(Exception):
    """A membership change the rules do not allow; the message is shown to the user."""


def _owner_count(organization):
    return Membership.objects.filter(organization=organization, role=Membership.Role.OWNER).count()


def invite_member(organization, email, role, actor):
    """Add a user (created without a usable password if new) to the organization.

    Returns (membership, new_user). Only owners may grant the owner role.
    """
    if role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
        raise MemberError("Only owners can invite owners.")
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        new_user = user is None
        if new_user:
            user = User.objects.create_user(email=email, password=None)  # sets it via the invitation link
        if Membership.objects.filter(organization=organization, user=user).exists():
            raise MemberError(f"{email} is already a member.")
        membership = Membership.objects.create(organization=organization, user=user, role=role)
    return membership, new_user


def change_role(target, role, actor):
    if Membership.Role.OWNER in (role, target.role) and actor.role != Membership.Role.OWNER:
        raise MemberError("Only owners can grant or change the owner role.")
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=target.organization_id)  # serialise last-owner checks
        if target.role == Membership.Role.OWNER and role != target.role and _owner_count(target.organization) <= 1:
            raise MemberError("An organization needs at least one owner.")
        target.role = role
        target.save(update_fields=["role"])
    return target


def remove_member(target, actor):
    if target.role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
        raise MemberError("Only owners can remove owners.")
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=target.organization_id)
        if target.role == Membership.Role.OWNER and _owner_count(target.organization) <= 1:
            raise MemberError("An organization needs at least one owner.")
        target.delete()
