"""Dedup store data: packs, the per-organization chunk index, files (manifests), origins, prices.

Chunks belong to an organization, never shared across organizations. A file's manifest is stored
compactly in its row (see dedup/manifests.py): ordered chunk row ids and sizes.
"""

from django.db import models
from django.utils import timezone

from dedup.chunking import DEFAULT_PROFILE, PROFILES
from tenants.models import Namespace, Organization

PROFILE_CHOICES = [(name, name) for name in sorted(PROFILES)]


class NamespaceConfig(models.Model):
    """Per-namespace dedup settings (absent row = defaults)."""

    namespace = models.OneToOneField(Namespace, on_delete=models.CASCADE, related_name="dedup_config")
    chunk_profile = models.CharField(max_length=32, choices=PROFILE_CHOICES, default=DEFAULT_PROFILE)


class OrgStorage(models.Model):
    """One row per organization: the lock every manifest change takes, and the quota's running total."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True)
    stored_bytes = models.BigIntegerField(default=0, help_text="Raw bytes of chunks some manifest references.")
    updated_at = models.DateTimeField(default=timezone.now)


class Pack(models.Model):
    class State(models.TextChoices):
        LIVE = "live", "Live"
        RETIRED = "retired", "Retired (repacked; object deleted after the grace period)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.LIVE)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "state"])]


class Chunk(models.Model):
    NONE = 0
    ZSTD = 1
    COMPRESSION_CHOICES = [(NONE, "none"), (ZSTD, "zstd")]

    # No separate index: the unique (organization, sha256) index leads with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    sha256 = models.BinaryField(max_length=32)
    size = models.PositiveIntegerField(help_text="Raw (uncompressed) length.")
    stored_size = models.PositiveIntegerField(help_text="Length of the payload in the pack.")
    compression = models.PositiveSmallIntegerField(choices=COMPRESSION_CHOICES, default=NONE)
    pack = models.ForeignKey(Pack, on_delete=models.PROTECT, related_name="chunks")
    offset = models.BigIntegerField(help_text="Payload offset in the pack.")
    refcount = models.IntegerField(default=0)
    # A chunk reported present by "missing?" (or freshly uploaded) is not collected before this.
    protected_until = models.DateTimeField(default=timezone.now)
    corrupt = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Few indexes on purpose: refcount changes on every commit stay cheap (HOT updates).
        constraints = [models.UniqueConstraint(fields=["organization", "sha256"], name="dedup_chunk_once_per_org")]


class File(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=1024)
    size = models.BigIntegerField()
    sha256 = models.BinaryField(max_length=32)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    chunk_count = models.PositiveIntegerField()
    chunk_profile = models.CharField(max_length=32)
    manifest = models.BinaryField()
    # Content read through from the origin (set by read-through; a PUT or manifest commit to the path clears
    # it): bytes served on hits of such a file did not leave the origin again (egress avoided).
    origin_fetched = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "path"], name="dedup_file_path_per_namespace")]
        indexes = [
            models.Index(fields=["organization", "sha256"]),
            # Same-size files are the candidates an upload's chunks are compared with (services._Speculation).
            models.Index(fields=["organization", "size"]),
        ]


class NamespaceTotals(models.Model):
    """Running totals for GET /api/dedup/stats (per-day figures go to cache_api.metering)."""

    namespace = models.OneToOneField(Namespace, on_delete=models.CASCADE, primary_key=True, related_name="+")
    bytes_uploaded = models.BigIntegerField(default=0)
    upload_bytes_saved = models.BigIntegerField(default=0)
    served_bytes = models.BigIntegerField(default=0)
    hit_bytes = models.BigIntegerField(default=0, help_text="Bytes served on hits (any file).")
    origin_hit_bytes = models.BigIntegerField(
        default=0, help_text="Bytes served on hits of files read through from the origin (egress avoided)."
    )
    origin_bytes = models.BigIntegerField(default=0)
    hits = models.BigIntegerField(default=0)
    misses = models.BigIntegerField(default=0)


class Origin(models.Model):
    """The S3-compatible bucket a namespace reads through to (seagate_lyve_connector node)."""

    class Kind(models.TextChoices):
        LYVE = "lyve", "Seagate Lyve Cloud"
        AWS_S3 = "aws_s3", "AWS S3"
        S3_COMPATIBLE = "s3_compatible", "Other S3-compatible"

    namespace = models.OneToOneField(Namespace, on_delete=models.CASCADE, related_name="dedup_origin")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LYVE)
    endpoint_url = models.URLField(max_length=255)
    bucket = models.CharField(max_length=255)
    prefix = models.CharField(max_length=512, blank=True)
    region = models.CharField(max_length=64, default="us-east-1")
    # Fernet tokens (dedup/crypto.py); the plaintext is never stored, shown or logged.
    access_key_id_encrypted = models.TextField()
    secret_access_key_encrypted = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)


class OriginPrice(models.Model):
    """An organization's own prices for an origin kind (defaults in dedup/pricing.py)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Origin.Kind.choices)
    egress_usd_per_gb = models.DecimalField(max_digits=10, decimal_places=5)
    storage_usd_per_gb_month = models.DecimalField(max_digits=10, decimal_places=5)
    source = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="dedup_price_per_org_kind")]


class StorageDaily(models.Model):
    """What a namespace held on one UTC day (the last snapshot of that day): stocks, not flows.

    Flows (bytes uploaded, served, fetched from the origin) are the metering counters in UsageDaily.
    stored_bytes counts the distinct chunks the namespace's files reference (a chunk shared with another
    namespace of the organization counts in both; the organization's own total is OrgStorage).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    files = models.BigIntegerField(default=0)
    logical_bytes = models.BigIntegerField(default=0)
    stored_bytes = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day", "namespace_id"]
        constraints = [models.UniqueConstraint(fields=["namespace", "day"], name="dedup_storage_namespace_day")]

    @property
    def dedup_ratio(self):
        return dedup_ratio(self.logical_bytes, self.stored_bytes)


def dedup_ratio(logical_bytes, stored_bytes):
    """Logical / stored chunk bytes (4 decimals), None while nothing is stored."""
    return round(logical_bytes / stored_bytes, 4) if stored_bytes else None
