"""Pure arithmetic behind every figure the portal, the usage API and the weekly report show.

No Django imports: the dashboard and the report call the same functions, so they cannot disagree.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

BYTES_PER_GB = 10**9  # the GB of dedup.pricing (and of the usd_per_gb figures shown next to it)
COST_QUANTUM = Decimal("0.000001")
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
DAYS_PER_YEAR = Decimal("365.25")

# Usage cannot predate the epoch; the far bound keeps date arithmetic (ranges, +1 day) inside the calendar.
EARLIEST_DATE = datetime.date(1970, 1, 1)
LATEST_DATE = datetime.date(9000, 12, 31)

SUM_FIELDS = (
    "requests",
    "hits",
    "misses",
    "sets",
    "deletes",
    "bytes_served",
    "bytes_written",
    "dedup_bytes_saved",
    "upload_bytes_saved",
    "origin_bytes",
    "file_bytes_served",
    "origin_hit_bytes",
    "bandwidth_saved_bytes",
)


def bandwidth_saved(bytes_served, upload_bytes_saved, file_bytes_served, origin_hit_bytes):
    """Bytes that did not leave the origin or did not cross the wire: key/value cache hits (bytes served
    other than the file store's), file store hits on files read through from the origin (origin_hit_bytes;
    a hit on an uploaded file saves no egress) and bytes clients did not upload (client-side dedup)."""
    cache_bytes = max(0, int(bytes_served) - int(file_bytes_served))
    return cache_bytes + int(origin_hit_bytes) + int(upload_bytes_saved)


def cost_saved(bandwidth_saved_bytes, usd_per_gb):
    """Egress avoided priced per GB; None (no egress charge) saves nothing."""
    if usd_per_gb is None:
        return Decimal(0).quantize(COST_QUANTUM)
    amount = Decimal(int(bandwidth_saved_bytes)) * Decimal(usd_per_gb) / BYTES_PER_GB
    return amount.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def hit_rate(hits, misses):
    """Hits over lookups, or None when there were no lookups (not 0%: nothing was measured)."""
    lookups = int(hits) + int(misses)
    return None if lookups == 0 else int(hits) / lookups


def dedup_rate(dedup_bytes_saved, bytes_written):
    """Share of the logical bytes written that were duplicates and not stored again."""
    logical = int(dedup_bytes_saved) + int(bytes_written)
    return None if logical == 0 else int(dedup_bytes_saved) / logical


def empty_totals():
    totals = dict.fromkeys(SUM_FIELDS, 0)
    totals["cost_saved_usd"] = Decimal(0).quantize(COST_QUANTUM)
    return totals


def add_into(totals, row):
    for name in SUM_FIELDS:
        totals[name] += int(row.get(name, 0))
    totals["cost_saved_usd"] += Decimal(row.get("cost_saved_usd", 0))
    return totals


def with_rates(totals):
    out = dict(totals)
    out["hit_rate"] = hit_rate(totals["hits"], totals["misses"])
    out["dedup_rate"] = dedup_rate(totals["dedup_bytes_saved"], totals["bytes_written"])
    out["cache_bytes_served"] = max(0, int(totals["bytes_served"]) - int(totals["file_bytes_served"]))
    return out


def elapsed_days(start, end, today):
    """Days of [start, end] that have begun by `today` (at least 1), the base of projections."""
    last = min(end, today)
    if last < start:
        return 1
    return (last - start).days + 1


def projections(cost_usd, days):
    """Monthly and annual cost saved if the period's daily average continued."""
    per_day = Decimal(cost_usd) / Decimal(max(1, days))
    return {
        "monthly_usd": (per_day * DAYS_PER_MONTH).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        "annual_usd": (per_day * DAYS_PER_YEAR).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
    }


def date_range(start, end):
    """start..end inclusive; counts offsets so that end == date.max does not step past the calendar."""
    for offset in range((end - start).days + 1):
        yield start + datetime.timedelta(days=offset)


def human_bytes(value):
    value = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} PiB"
