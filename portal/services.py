"""Writes of usage data: folding the live metering counters into UsageDaily, exactly once."""

import datetime
import logging
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cache_api import metering
from portal import figures, pricing
from portal.models import AppliedUsageBatch, UsageDaily
from tenants.models import Membership, Namespace, Organization, User

logger = logging.getLogger(__name__)

ROLLUP_CHUNK = 200  # namespace-days applied per transaction
DERIVED_FIELDS = ("bandwidth_saved_bytes", "cost_saved_usd", "updated_at")
APPLIED_BATCH_RETENTION_DAYS = 60  # far beyond any run's lifetime; pending batches are always days younger


@dataclass
class RollupResult:
    days: list
    namespaces: int = 0
    applied: int = 0  # batches added to UsageDaily by this run
    already_applied: int = 0  # batches an earlier or concurrent run had added: only finished here
    requests: int = 0  # requests folded in by this run
    per_day: dict = field(default_factory=dict)


def default_rollup_days(now=None):
    """Today and yesterday (UTC): yesterday's counters still receive requests in flight at midnight."""
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    return [today - datetime.timedelta(days=1), today]


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
            row.bandwidth_saved_bytes = figures.bandwidth_saved(row.bytes_served, row.upload_bytes_saved)
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


def rollup_usage(days=None, organization_ids=None, chunk_size=ROLLUP_CHUNK):
    """Fold live counters of every namespace (from the database, no Redis scan) into UsageDaily.

    Namespaces go in chunks: drain each namespace-day, apply the chunk's batches in one
    transaction, then finish them. A crash anywhere leaves pending batches that the next run
    applies (if the transaction had not committed) or just finishes (if it had).
    """
    days = sorted(days or default_rollup_days())
    result = RollupResult(days=[d.isoformat() for d in days])
    namespaces = Namespace.objects.order_by("id").values_list("id", "organization_id")
    if organization_ids is not None:
        namespaces = namespaces.filter(organization_id__in=organization_ids)
    drained = []
    for namespace_id, organization_id in namespaces.iterator(chunk_size=2000):
        result.namespaces += 1
        for day in days:
            moved = metering.begin_drain(organization_id, namespace_id, day)
            if moved is not None:
                drained.append(Drained(organization_id, namespace_id, day, moved[0], moved[1]))
        if len(drained) >= chunk_size:
            _apply_and_finish(drained, result)
            drained = []
    _apply_and_finish(drained, result)
    logger.info(
        "usage rollup days=%s namespaces=%d batches_applied=%d batches_already_applied=%d requests=%d per_day=%s",
        ",".join(result.days),
        result.namespaces,
        result.applied,
        result.already_applied,
        result.requests,
        result.per_day,
    )
    return result


def prune_applied_batches(now=None, keep_days=APPLIED_BATCH_RETENTION_DAYS):
    cutoff = (now or timezone.now()).date() - datetime.timedelta(days=keep_days)
    deleted, _ = AppliedUsageBatch.objects.filter(day__lt=cutoff).delete()
    logger.info("pruned %d applied usage batch records older than %s", deleted, cutoff)
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
