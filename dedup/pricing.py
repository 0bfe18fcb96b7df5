"""Price table per origin kind and the namespace stats of GET /api/dedup/stats.

Defaults are list prices (sources in README.md, "Accounting and prices"); an organization can override them
(OriginPrice rows, editable in admin). Storage prices are per GB-month, egress per GB; GB = 10^9 bytes.
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from dedup import selectors
from dedup.models import Origin, OriginPrice, dedup_ratio

GB = Decimal(10**9)

DEFAULT_PRICES = {
    # AWS S3 Standard, US East (N. Virginia): storage first 50 TB/month, data transfer out to the internet
    # first 10 TB/month (aws.amazon.com/s3/pricing; the page is undated: checked 2026-12-02 against copies of it).
    Origin.Kind.AWS_S3: {
        "egress_usd_per_gb": Decimal("0.09"),
        "storage_usd_per_gb_month": Decimal("0.023"),
        "source": "AWS S3 Standard us-east-1 list prices (aws.amazon.com/s3/pricing), as checked on 2026-12-02",
    },
    # Seagate Lyve Cloud: storage only, no egress/API fees (Lyve Cloud billing FAQ); $9 per TB-month for
    # self-service accounts (Lyve Cloud release 5.7 notes, 2023-02-03).
    Origin.Kind.LYVE: {
        "egress_usd_per_gb": Decimal("0"),
        "storage_usd_per_gb_month": Decimal("0.009"),
        "source": "Seagate Lyve Cloud billing FAQ and release 5.7 notes (2023-02-03)",
    },
    # Unknown S3-compatible provider: assume AWS list prices until the organization sets its own.
    Origin.Kind.S3_COMPATIBLE: {
        "egress_usd_per_gb": Decimal("0.09"),
        "storage_usd_per_gb_month": Decimal("0.023"),
        "source": "assumed AWS S3 list prices (as checked on 2026-12-02); set your provider's prices",
    },
}


def prices_for(organization_id, kind):
    own = OriginPrice.objects.filter(organization_id=organization_id, kind=kind).first()
    if own is not None:
        return {
            "egress_usd_per_gb": own.egress_usd_per_gb,
            "storage_usd_per_gb_month": own.storage_usd_per_gb_month,
            "source": own.source or "organization's own prices",
        }
    return DEFAULT_PRICES[kind]


def namespace_stats(context):
    namespace_id = context.namespace.id
    files, logical, stored = selectors.namespace_storage(namespace_id)
    totals = selectors.namespace_totals(namespace_id)
    origin = Origin.objects.filter(namespace_id=namespace_id).only("kind").first()
    kind = origin.kind if origin else Origin.Kind.AWS_S3
    prices = prices_for(context.organization_id, kind)
    # Egress avoided: bytes served on hits of files read through from the origin (they did not leave it
    # again). Hits on uploaded files avoid no egress, even in a namespace with an origin.
    egress_avoided = totals.origin_hit_bytes if origin else 0
    storage_avoided = max(0, logical - stored)
    egress_usd = Decimal(egress_avoided) / GB * prices["egress_usd_per_gb"]
    storage_usd = Decimal(storage_avoided) / GB * prices["storage_usd_per_gb_month"]
    notes = []
    if origin and prices["egress_usd_per_gb"] == 0:
        notes.append(
            f"{origin.get_kind_display()} charges no egress: serving from the cache saves bandwidth, not money."
        )
    if not origin:
        notes.append("No origin configured: egress savings are not counted; storage savings use AWS S3 prices.")
    return {
        "files": files,
        "logical_bytes": logical,
        "stored_bytes": stored,
        "dedup_ratio": dedup_ratio(logical, stored),
        "bytes_uploaded": totals.bytes_uploaded,
        "upload_bytes_saved": totals.upload_bytes_saved,
        "served_bytes": totals.served_bytes,
        "origin_bytes": totals.origin_bytes,
        "origin_hit_bytes": totals.origin_hit_bytes,
        "hits": totals.hits,
        "misses": totals.misses,
        "bandwidth_saved_bytes": egress_avoided + totals.upload_bytes_saved,
        "cost_saved_usd": float(round(egress_usd + storage_usd, 6)),
        "cost_breakdown": {
            "origin_kind": kind,
            "egress_avoided_bytes": egress_avoided,
            "egress_saved_usd": float(round(egress_usd, 6)),
            "storage_avoided_bytes": storage_avoided,
            "storage_saved_usd_per_month": float(round(storage_usd, 6)),
            "egress_usd_per_gb": float(prices["egress_usd_per_gb"]),
            "storage_usd_per_gb_month": float(prices["storage_usd_per_gb_month"]),
            "price_source": prices["source"],
        },
        "notes": notes,
        # Stocks per UTC day (snapshots every 30 minutes); the flows per day are in GET /api/usage.
        "days": selectors.storage_days(namespace_id, since=timezone.now().date() - datetime.timedelta(days=29)),
    }
