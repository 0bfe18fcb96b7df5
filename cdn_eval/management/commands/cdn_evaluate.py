"""python manage.py cdn_evaluate <log> [--cache-size 10GB] [--json]: evaluate an access log locally."""

import sys
import time

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cdn_eval import engine
from cdn_eval.engine import human_bytes, memory


class ProgressBar:
    """A one-line bar redrawn with carriage returns on the command's stderr."""

    def __init__(self, stream, width=30):
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.last = ""

    def __call__(self, fraction, stage):
        filled = int(self.width * fraction)
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {stage:<20}"
        if line != self.last:
            self.stream.write(line, ending="")
            self.stream.flush()
            self.last = line

    def close(self):
        self.stream.write(f"\r{' ' * (self.width + 32)}\r", ending="")
        self.stream.flush()


class Command(BaseCommand):
    help = "Evaluate a desktop-CDN access log (JSON array, NDJSON or CSV; gzip accepted) and print a report."

    def add_arguments(self, parser):
        parser.add_argument("log", help="path to the access log ('-' for stdin)")
        parser.add_argument("--cache-size", help="evaluate and recommend at this size, e.g. 10GB or 512MiB")
        parser.add_argument("--json", action="store_true", help="print the result JSON instead of a report")
        parser.add_argument("--skip-invalid", action="store_true", help="skip malformed records and count them")
        parser.add_argument("--sample-rate", type=float, help="SHARDS sampling rate (0-1]")
        parser.add_argument("--options", help="engine options as a JSON object")

    def handle(self, *args, **opts):
        raw = _options(opts.get("options"))
        if opts.get("cache_size"):
            raw["cache_size"] = opts["cache_size"]
        if opts.get("sample_rate") is not None:
            raw["sample_rate"] = opts["sample_rate"]
        memory.keep_large_arrays_mapped()  # this process exists to evaluate
        bar = ProgressBar(self.stderr)
        try:
            options = engine.Options.from_dict(
                raw,
                default_egress_price=settings.CDN_EVAL_EGRESS_PRICE_PER_GB,
                default_price_source="default: CDN_EVAL_EGRESS_PRICE_PER_GB setting",
            )
            bar(0.0, "parsing")
            started = time.monotonic()
            limits = {"skip_invalid": opts["skip_invalid"], "max_bytes": settings.CDN_EVAL_MAX_DECOMPRESSED_BYTES}
            if opts["log"] == "-":
                columns = engine.parse_bytes(sys.stdin.buffer.read(), **limits)
            else:
                columns = engine.parse_file(opts["log"], **limits)  # read piece by piece
            result = engine.evaluate_columns(columns, options, progress=bar)
        except OSError as exc:
            raise CommandError(f"Cannot read {opts['log']}: {exc.strerror}") from exc
        except engine.EngineError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            raise CommandError(f"{exc.message}{where}") from exc
        finally:
            bar.close()
        payload = result.to_dict()
        if opts["json"]:
            self.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
            return
        self.stdout.write(render_report(payload, time.monotonic() - started))


def _options(text):
    if not text:
        return {}
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"--options must be a JSON object: {exc}") from exc
    if not isinstance(raw, dict):
        raise CommandError("--options must be a JSON object, e.g. '{\"target_share\": 0.8}'.")
    return raw


def _pct(x):
    return f"{x * 100:5.1f}%"


def render_report(r, seconds):
    out = []
    rec = r["recommended"]
    out.append(f"Desktop-CDN evaluation ({seconds:.1f} s)")
    out.append(
        f"  {r['requests']:,} requests, {r['objects']:,} objects, working set {human_bytes(r['working_set_bytes'])}, "
        f"{r['one_hit_objects']:,} one-hit objects"
    )
    if r["skipped_records"]:
        out.append(f"  {r['skipped_records']:,} malformed records skipped")
    if r["sampling"]:
        s = r["sampling"]
        out.append(
            f"  sampled at {s['rate']:.4f} ({s['sampled_requests']:,} requests); expected error "
            f"{s['expected_mae_hit_ratio']:.4f} (hit ratio), {s['expected_mae_byte_hit_ratio']:.4f} (byte hit ratio)"
        )
    out.append("")
    out.append(
        f"Recommended: {human_bytes(rec['cache_bytes'])} with {rec['policy'].upper()}: hit ratio "
        f"{_pct(rec['hit_ratio'])}, byte hit ratio {_pct(rec['byte_hit_ratio'])}"
    )
    out.append(f"  {rec['reason']}")
    knee = rec.get("knee")
    if knee:
        out.append(
            f"  (for information, the knee of the LRU curve: {human_bytes(knee['cache_bytes'])}, hit ratio "
            f"{_pct(knee['hit_ratio']).strip()}, byte hit ratio {_pct(knee['byte_hit_ratio']).strip()}, "
            f"saves {human_bytes(knee['bytes_saved_per_day'])}/day)"
        )
    sv = r["savings"]
    source = f" ({sv['price_source']})" if sv.get("price_source") else ""
    out.append(
        f"  Saves {human_bytes(sv['bytes_per_day'])}/day, ${sv['usd_per_month']:,.2f}/month "
        f"at ${sv['price_per_gb']}/GB egress{source}"
    )
    out.append("")
    names = list(r["at_sizes"][0]["policies"]) if r["at_sizes"] else []
    out.append("Byte hit ratio by size and policy:")
    out.append("  " + f"{'size':>10}" + "".join(f"{n:>9}" for n in names))
    for row in r["at_sizes"]:
        cells = "".join(f"{row['policies'][n]['byte_hit_ratio'] * 100:8.1f}%" for n in names)
        out.append("  " + f"{human_bytes(row['cache_bytes']):>10}" + cells)
    for name in r.get("bounds", []):
        if name in names:
            out.append(f"  {name} is a bound, never recommended: {r['policy_notes'][name]}")
    out.append("")
    out.append("Exact LRU curve (every 10th point):")
    for point in r["curve"][::10]:
        bar = "#" * int(point["byte_hit_ratio"] * 40)
        out.append(f"  {human_bytes(point['cache_bytes']):>10} {_pct(point['byte_hit_ratio'])} {bar}")
    out.append("")
    out.append("Tiers:")
    for tier in r["tiers"]:
        out.append(
            f"  {tier['tier']:<7} {tier['objects']:>9,} objects {human_bytes(tier['bytes']):>10} "
            f"{_pct(tier['hit_share'])} of re-requests"
        )
    out.append("")
    out.append("Evict first:")
    for item in r["eviction_priorities"][:10]:
        out.append(f"  {item['score']:>12.2f}  {item['path']}  ({item['why']})")
    for note in r["notes"]:
        out.append(f"Note: {note}")
    return "\n".join(out) + "\n"
