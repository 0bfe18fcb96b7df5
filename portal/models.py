from django.db import models
from django.utils import timezone

from tenants.models import Namespace, Organization


class UsageDaily(models.Model):
    """One namespace's usage on one UTC day: the rolled-up record customers are billed and shown on.

    Counters come from cache_api.metering (folded in by portal.services.rollup);
    bandwidth_saved_bytes and cost_saved_usd are derived when a batch is applied.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_days")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    hits = models.PositiveBigIntegerField(default=0)
    misses = models.PositiveBigIntegerField(default=0)
    sets = models.PositiveBigIntegerField(default=0)
    deletes = models.PositiveBigIntegerField(default=0)
    bytes_served = models.PositiveBigIntegerField(default=0, help_text="Value bytes returned on cache hits.")
    bytes_written = models.PositiveBigIntegerField(default=0)
    dedup_bytes_saved = models.PositiveBigIntegerField(default=0, help_text="Duplicate bytes not stored again.")
    upload_bytes_saved = models.PositiveBigIntegerField(default=0, help_text="Bytes clients did not have to upload.")
    origin_bytes = models.PositiveBigIntegerField(default=0, help_text="Bytes fetched from the customer's origin.")
    file_bytes_served = models.PositiveBigIntegerField(
        default=0, help_text="Bytes the dedup file store served (part of bytes_served)."
    )
    origin_hit_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Bytes served on hits of files read through from the origin (egress avoided)."
    )
    bandwidth_saved_bytes = models.PositiveBigIntegerField(default=0)
    cost_saved_usd = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day", "namespace_id"]
        constraints = [models.UniqueConstraint(fields=["namespace", "day"], name="unique_usage_namespace_day")]
        indexes = [models.Index(fields=["organization", "day"], name="usage_org_day")]

    def __str__(self):
        return f"{self.namespace_id} {self.day}"


class AppliedUsageBatch(models.Model):
    """A drained counter batch already added to UsageDaily.

    Inserted in the same transaction as the addition; the unique batch_id is what
    makes a re-run (after a crash, or concurrently) skip a batch instead of doubling it.
    """

    batch_id = models.CharField(max_length=64, unique=True)
    run_id = models.CharField(max_length=32, db_index=True, help_text="The rollup call that applied it.")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    counts = models.JSONField(default=dict)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "day"], name="usage_batch_org_day")]

    def __str__(self):
        return self.batch_id


class UsageRollupMark(models.Model):
    """The last UTC day whose counters a complete default rollup run had folded in.

    The next default run visits every day after it (bounded by the counters' TTL), so beat or
    the workers being down for days leaves nothing behind; readers add live counters for those days.
    """

    USAGE = "usage"

    name = models.CharField(max_length=32, primary_key=True)
    day = models.DateField()

    def __str__(self):
        return f"{self.name} {self.day}"


class WeeklyReportSent(models.Model):
    """A weekly report emailed to an organization's owners: a redelivered task never sends it twice."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="Monday of the reported week.")
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "week"], name="unique_weekly_report_org_week")]

    def __str__(self):
        return f"{self.organization_id} {self.week}"
