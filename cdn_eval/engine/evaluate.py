"""The whole evaluation: options, curve, policy comparison, recommendations, in one call.

`evaluate(trace, options)` -> results.Evaluation. `progress(fraction, stage)` is called along the way.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from . import curve as curves
from . import kernels, memory
from . import policies as pol
from .errors import EngineError
from .results import (
    CurvePoint,
    Evaluation,
    EvictionPriority,
    PolicyResult,
    Recommendation,
    Savings,
    SizeResult,
    Tier,
)
from .trace import Trace

GB = 10**9
DAY_MS = 86_400_000
DEFAULT_EGRESS_PRICE_PER_GB = 0.09
HALF_POINT = 0.005  # "within half a point" of byte hit ratio
UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(value, field_name="cache_size"):
    """Bytes from an int or a string like '10GB' (decimal) or '512MiB' (binary)."""
    if isinstance(value, bool):
        raise EngineError("invalid_option", f"{field_name} must be a size in bytes.", field=field_name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise EngineError("invalid_option", f"{field_name} must be a positive size in bytes.", field=field_name)
        return int(value)
    if isinstance(value, str):
        text = value.strip().upper().replace(" ", "")
        number = text.rstrip("KMGTIB")
        unit = text[len(number) :]
        try:
            amount = float(number)
        except ValueError:
            amount = -1
        if unit in UNITS and amount > 0 and math.isfinite(amount):
            return int(amount * UNITS[unit])
    raise EngineError(
        "invalid_option",
        f"{field_name} must be bytes or a size like '10GB' or '512MiB', got {value!r}.",
        field=field_name,
    )


@dataclass
class TierThresholds:
    memory_min_requests: int = 3
    memory_max_object_bytes: int = 16 * 2**20
    disk_min_requests: int = 2
    stale_after_days: float | None = None  # None: half the trace's span

    FIELDS = ("memory_min_requests", "memory_max_object_bytes", "disk_min_requests", "stale_after_days")


@dataclass
class Options:
    cache_sizes: list | None = None
    policies: list = field(default_factory=lambda: list(pol.ALL))
    target_share: float = 0.9
    memory_budget_bytes: int | None = None
    disk_budget_bytes: int | None = None
    egress_price_per_gb: float | None = None
    storage_price_per_gb_month: float | None = None
    sample_rate: float | None = None
    max_paths: int = 20
    tiers: TierThresholds = field(default_factory=TierThresholds)
    recommend_size: int | None = None  # pin the size (the CLI's --cache-size)
    sample_above_requests: int = 10_000_000
    price_from_default: bool = True
    price_source: str = ""

    @classmethod
    def from_dict(cls, raw, default_egress_price=None, default_price_source=None):
        """default_egress_price: the price used when the option is absent (the namespace's, or a setting);
        default_price_source says where it came from, for the report."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise EngineError("invalid_option", "options must be an object.", field="options")
        known = {
            "cache_sizes",
            "policies",
            "target_share",
            "memory_budget_bytes",
            "disk_budget_bytes",
            "egress_price_per_gb",
            "storage_price_per_gb_month",
            "sample_rate",
            "max_paths",
            "tiers",
            "cache_size",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise EngineError("invalid_option", f"Unknown option '{unknown[0]}'.", field=f"options.{unknown[0]}")
        opts = cls()
        if raw.get("cache_sizes") is not None:
            sizes = raw["cache_sizes"]
            if not isinstance(sizes, list) or not 1 <= len(sizes) <= 24:
                raise EngineError(
                    "invalid_option", "cache_sizes must be a list of 1 to 24 sizes.", field="options.cache_sizes"
                )
            opts.cache_sizes = sorted({parse_size(s, "options.cache_sizes") for s in sizes})
        if raw.get("cache_size") is not None:
            opts.recommend_size = parse_size(raw["cache_size"], "options.cache_size")
        if raw.get("policies") is not None:
            names = raw["policies"]
            if not isinstance(names, list) or not names or any(n not in pol.ALL for n in names):
                raise EngineError(
                    "invalid_option",
                    f"policies must be a non-empty list drawn from {', '.join(pol.ALL)}.",
                    field="options.policies",
                )
            opts.policies = [n for n in pol.ALL if n in names]
            if "lru" not in opts.policies:
                opts.policies.insert(0, "lru")  # the baseline every margin is measured against
        opts.target_share = _number(raw, "target_share", opts.target_share, low=0.0, high=1.0, open_low=True)
        for name in ("memory_budget_bytes", "disk_budget_bytes"):
            if raw.get(name) is not None:
                setattr(opts, name, parse_size(raw[name], f"options.{name}"))
        opts.egress_price_per_gb = _number(raw, "egress_price_per_gb", None, low=0.0)
        opts.storage_price_per_gb_month = _number(raw, "storage_price_per_gb_month", None, low=0.0)
        opts.price_from_default = opts.egress_price_per_gb is None
        if opts.price_from_default:
            if default_egress_price is None:
                opts.egress_price_per_gb = DEFAULT_EGRESS_PRICE_PER_GB
                opts.price_source = default_price_source or "default: AWS S3 internet egress list price"
            else:
                opts.egress_price_per_gb = float(default_egress_price)
                opts.price_source = default_price_source or "default egress price"
        else:
            opts.price_source = "options.egress_price_per_gb"
        opts.sample_rate = _number(raw, "sample_rate", None, low=0.0, high=1.0, open_low=True)
        max_paths = raw.get("max_paths", opts.max_paths)
        if isinstance(max_paths, bool) or not isinstance(max_paths, int) or not 0 <= max_paths <= 1000:
            raise EngineError(
                "invalid_option", "max_paths must be a whole number from 0 to 1000.", field="options.max_paths"
            )
        opts.max_paths = max_paths
        tiers = raw.get("tiers") or {}
        if not isinstance(tiers, dict):
            raise EngineError("invalid_option", "tiers must be an object of thresholds.", field="options.tiers")
        for name in tiers:
            if name not in TierThresholds.FIELDS:
                raise EngineError("invalid_option", f"Unknown tier threshold '{name}'.", field=f"options.tiers.{name}")
        thresholds = TierThresholds()
        for name in ("memory_min_requests", "disk_min_requests"):
            value = tiers.get(name, getattr(thresholds, name))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EngineError(
                    "invalid_option", f"tiers.{name} must be a whole number >= 1.", field=f"options.tiers.{name}"
                )
            setattr(thresholds, name, value)
        if tiers.get("memory_max_object_bytes") is not None:
            thresholds.memory_max_object_bytes = parse_size(
                tiers["memory_max_object_bytes"], "options.tiers.memory_max_object_bytes"
            )
        thresholds.stale_after_days = _number(tiers, "stale_after_days", None, low=0.0, prefix="options.tiers.")
        opts.tiers = thresholds
        return opts


def _number(raw, name, default, low=None, high=None, open_low=False, prefix="options."):
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EngineError("invalid_option", f"{name} must be a number.", field=f"{prefix}{name}")
    if low is not None and (value < low or (open_low and value == low)):
        raise EngineError(
            "invalid_option", f"{name} must be {'>' if open_low else '>='} {low}.", field=f"{prefix}{name}"
        )
    if high is not None and value > high:
        raise EngineError("invalid_option", f"{name} must be <= {high}.", field=f"{prefix}{name}")
    return float(value)


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_duration(ms):
    hours = ms / 3_600_000
    if hours < 1:
        return f"{ms / 60_000:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _ratio(a, b):
    return float(a) / float(b) if b else 0.0


def _round(x):
    return round(float(x), 6)


class _Reporter:
    def __init__(self, progress):
        self.progress = progress

    def __call__(self, fraction, stage):
        if self.progress:
            self.progress(min(1.0, max(0.0, fraction)), stage)


def evaluate(trace: Trace, options: Options | None = None, progress=None, skipped_records=0):
    options = options or Options.from_dict({})
    report = _Reporter(progress)
    if trace.n_req == 0:
        raise EngineError("empty_log", "The access log is empty: send at least one record.")
    n_req = trace.n_req
    counts = np.bincount(trace.obj, minlength=trace.n_obj)
    total_bytes = int(trace.osize @ counts)  # no array per request kept through the evaluation
    present_sizes = trace.osize[counts > 0]  # ids built by hand (tests) may include unrequested objects
    working_set = int(present_sizes.sum())
    notes = []

    # --- curve (exact, or SHARDS for big logs) ---------------------------------------------------
    rate = options.sample_rate
    if rate is None and n_req > options.sample_above_requests:
        rate = max(0.001, min(0.1, 1_000_000 / n_req))
    sampled = rate is not None and rate < 1.0
    grid = curves.curve_grid(present_sizes)
    report(0.05, "stack distances")
    sampling = None
    if sampled:
        sample = curves.shards_sample(trace, rate)
        hr_curve, bhr_curve, info = curves.shards_curve(trace, rate, grid)
        a_hr, a_bhr, _ = curves.shards_curve(trace, rate / 2, grid)
        b_hr, b_bhr, _ = curves.shards_curve(trace, rate, grid, start_rate=rate / 2)
        rate = info["rate"]
        # two disjoint half-rate samples differ by about twice the full sample's error
        sampling = {
            "method": "SHARDS spatial sampling by object hash with the SHARDS-adj correction (Waldspurger et al., "
            "FAST'15); sampled objects weighted 1/rate in byte distances and hit counts, the "
            f"{info['hot_objects_exact']} objects with the most requests or requested bytes kept exactly; other "
            "policies simulated on "
            "the sample with cache sizes scaled by the rate",
            "rate": _round(rate),
            "sampled_requests": info["sampled_requests"],
            "sampled_objects": info["sampled_objects"],
            "hot_objects_exact": info["hot_objects_exact"],
            "policy_sample_requests": sample.kept_requests,
            "expected_mae_hit_ratio": _round(np.abs(a_hr - b_hr).mean() / 2),
            "expected_mae_byte_hit_ratio": _round(np.abs(a_bhr - b_bhr).mean() / 2),
            "error_estimate": "half the mean absolute difference between two disjoint half-rate samples",
        }
        sim_trace = sample.trace
        scale = rate
        profile = None
        dist = None
    else:
        profile, dist = curves.stack_profile(trace)
        dist = _reuse_totals(trace, dist)  # all the tiers need of the distances: one float per object
        memory.release()
        report(0.2, "exact LRU curve")
        hits, byte_hits = curves.lru_counts(trace, profile, grid, workers=pol.workers())
        hr_curve = hits / n_req
        bhr_curve = byte_hits / total_bytes if total_bytes else np.zeros(len(grid))
        sim_trace = trace
        scale = 1.0
    curve = [
        CurvePoint(int(c), _round(h), _round(b)) for c, h, b in zip(grid.tolist(), hr_curve, bhr_curve, strict=True)
    ]
    report(0.3, "policies")

    def sim_size(size):
        return max(1, int(round(size * scale)))

    def lru_exact(sizes):
        """LRU (hits ratio, byte hit ratio) at sizes, exact when not sampled."""
        if profile is None:
            return None
        h, b = curves.lru_counts(trace, profile, sizes, workers=pol.workers())
        return h / n_req, (b / total_bytes if total_bytes else np.zeros(len(sizes)))

    # --- recommended size ---------------------------------------------------------------------
    trace_days = max((int(trace.timestamps[-1]) - int(trace.timestamps[0])) / DAY_MS, 1.0)
    if trace_days == 1.0 and int(trace.timestamps[-1]) - int(trace.timestamps[0]) < DAY_MS:
        notes.append("The log spans less than a day; per-day figures count it as one day.")
    bytes_per_day_total = total_bytes / trace_days
    budget = options.disk_budget_bytes
    best_bhr = float(bhr_curve[-1])
    size_basis = ""
    if options.recommend_size is not None:
        size = options.recommend_size
        size_basis = "pinned"
        size_reason = f"Size {human_bytes(size)} was given."
    elif options.storage_price_per_gb_month is not None:
        # the egress side is the option, else the namespace's (or default) price: a storage price alone
        # is enough to weigh one more GB
        saving = bhr_curve * bytes_per_day_total / GB * options.egress_price_per_gb
        cost = grid / GB * options.storage_price_per_gb_month / 30.0
        net = saving - cost
        allowed = grid <= budget if budget else np.ones(len(grid), dtype=bool)
        k = int(np.argmax(np.where(allowed, net, -np.inf))) if allowed.any() else 0
        size = int(grid[k])
        size_basis = "price"
        size_reason = (
            f"Beyond {human_bytes(size)} one more GB saves less egress (${options.egress_price_per_gb}/GB, "
            f"{options.price_source}) than it costs to store (${options.storage_price_per_gb_month}/GB-month)."
        )
    else:
        target = options.target_share * best_bhr
        size = None
        if profile is not None and total_bytes:
            need = target * total_bytes
            k = int(np.searchsorted(profile.cum_bytes, need - 1e-6, side="left"))
            if k < profile.sorted_dist.size and int(profile.sorted_dist[k]) >= profile.exact_from:
                size = int(profile.sorted_dist[k])  # exact: the smallest size whose LRU byte hits reach the target
        if size is None:
            reach = np.flatnonzero(bhr_curve >= target - 1e-12)
            size = int(grid[reach[0]]) if reach.size else int(grid[-1])
        size_basis = "target_share"
        size_reason = (
            f"Smallest size reaching {options.target_share:.0%} of the best achievable byte hit ratio "
            f"({best_bhr:.1%} with an unlimited LRU cache)."
        )
    if budget and size > budget:
        size = budget
        size_reason += f" Capped by the disk budget of {human_bytes(budget)}."
    size = max(1, int(size))
    knee_at = _knee(grid, bhr_curve)
    knee = None
    if knee_at is not None:
        knee = {
            "cache_bytes": int(grid[knee_at]),
            "hit_ratio": _round(hr_curve[knee_at]),
            "byte_hit_ratio": _round(bhr_curve[knee_at]),
            "bytes_saved_per_day": _round(bhr_curve[knee_at] * bytes_per_day_total),
            "note": "information only: the point of the LRU curve farthest above its chord in log-size space",
        }

    # --- at_sizes + recommended size + robustness, in one batch of simulations -----------------
    at_sizes = options.cache_sizes or _default_sizes(present_sizes)
    names = [p for p in options.policies]
    choosable = [p for p in names if p in pol.POLICIES]
    # the 70/30 check runs on the trace the policies run on (the sample, when sampled)
    cut = int(sim_trace.n_req * 0.7)
    holdout = cut >= 10 and sim_trace.n_req - cut >= 10
    split = cut if holdout else None
    # every size at or above the working set keeps every object: all policies hit every re-request
    sim_working_set = int(sim_trace.osize[np.bincount(sim_trace.obj, minlength=sim_trace.n_obj) > 0].sum())
    jobs = []
    queued = set()

    def queue(label, s, p):
        # Every run carries the split: it leaves the totals unchanged and also counts the last 30%, so a
        # (size, policy) run queued first for at_sizes serves the 70/30 check as well.
        if (label, s, p) in queued:
            return
        queued.add((label, s, p))
        jobs.append(((label, s, p), sim_trace, p, sim_size(s), split))

    for s in at_sizes:
        for p in names:
            if (p == "lru" and profile is not None) or sim_size(s) >= sim_working_set:
                continue
            queue("at", s, p)
    check_sizes = {"at": size, "half": max(1, size // 2), "double": size * 2}
    for label, s in check_sizes.items():
        for p in choosable:
            if label == "at" and holdout:
                queue(label, s, p)  # the 70/30 check needs a run even where the curve gives the totals
            elif (p == "lru" and profile is not None) or sim_size(s) >= sim_working_set:
                continue
            else:
                queue(label, s, p)
    results = pol.run_many(jobs, progress=lambda f: report(0.3 + 0.6 * f, "policies"))
    sim_req = sim_trace.n_req
    sim_bytes = int(sim_trace.req_size.sum())
    sim_counts = np.bincount(sim_trace.obj, minlength=sim_trace.n_obj)
    # the unlimited-cache result: every re-request hits
    reuse_hits = int(sim_req - (sim_counts > 0).sum())
    reuse_bytes = int(sim_bytes - sim_trace.osize[sim_counts > 0].sum())

    def ratios(key):
        if key in results:
            h, b = results[key][0], results[key][1]
        else:
            h, b = reuse_hits, reuse_bytes
        return PolicyResult(_round(_ratio(h, sim_req)), _round(_ratio(b, sim_bytes)))

    exact_sizes = sorted(set(at_sizes) | set(check_sizes.values()))
    exact = lru_exact(exact_sizes)
    lru_at = {}
    if exact is not None:
        for s, h, b in zip(exact_sizes, exact[0], exact[1], strict=True):
            lru_at[s] = PolicyResult(_round(h), _round(b))

    def result(label, s, p):
        if p == "lru" and s in lru_at:
            return lru_at[s]
        return ratios((label, s, p))

    size_results = [SizeResult(int(s), {p: result("at", s, p) for p in names}) for s in at_sizes]

    def choose(table):
        best = max(table[p].byte_hit_ratio for p in table)
        for p in pol.POLICIES:  # simplest first
            if p in table and table[p].byte_hit_ratio >= best - HALF_POINT:
                return p, best
        return max(table, key=lambda p: table[p].byte_hit_ratio), best

    at_table = {p: result("at", size, p) for p in choosable}
    chosen, _ = choose(at_table)
    robustness = {}
    for label in ("half", "double"):
        table = {p: result(label, check_sizes[label], p) for p in choosable}
        winner, best = choose(table)
        robustness[label] = {
            "cache_bytes": int(check_sizes[label]),
            "best": winner,
            "holds": table[chosen].byte_hit_ratio >= best - HALF_POINT,
        }
    if holdout:
        first_bytes = int(sim_trace.req_size[:cut].sum())
        last_bytes = int(sim_trace.req_size[cut:].sum())
        train_table = {}
        test_table = {}
        for p in choosable:
            _, b_all, _, b_after = results[("at", size, p)]
            train_table[p] = PolicyResult(0.0, _round(_ratio(b_all - b_after, first_bytes)))
            test_table[p] = PolicyResult(0.0, _round(_ratio(b_after, last_bytes)))
        trained, _ = choose(train_table)
        test_best, best = choose(test_table)
        robustness["holdout"] = {
            "trained_on_first": 0.7,
            "trained_choice": trained,
            "best_on_last_30pct": test_best,
            "holds": trained == chosen and test_table[chosen].byte_hit_ratio >= best - HALF_POINT,
            "first_70pct_byte_hit_ratio": {p: train_table[p].byte_hit_ratio for p in choosable},
            "last_30pct_byte_hit_ratio": {p: test_table[p].byte_hit_ratio for p in choosable},
            "on_sample": sampled,
        }
        if sampled:
            robustness["holdout"]["note"] = (
                f"run on the SHARDS sample ({sim_trace.n_req} requests) with cache sizes scaled by the rate"
            )
    else:
        robustness["holdout"] = {"holds": None, "skipped": "log too short"}
    margin = at_table[chosen].byte_hit_ratio - at_table["lru"].byte_hit_ratio if "lru" in at_table else 0.0
    holds = [k for k, v in robustness.items() if v["holds"]]
    fails = [k for k, v in robustness.items() if v["holds"] is False]
    policy_reason = (
        f"{chosen.upper()} has the best byte hit ratio at this size ({at_table[chosen].byte_hit_ratio:.1%}, "
        f"{margin * 100:+.2f} points over LRU); policies within half a point count as equal and the simpler wins."
    )
    if holds:
        policy_reason += f" The choice holds for: {', '.join(holds)}."
    if fails:
        policy_reason += f" It does not hold for: {', '.join(fails)}."
    recommended = Recommendation(
        cache_bytes=int(size),
        policy=chosen,
        hit_ratio=at_table[chosen].hit_ratio,
        byte_hit_ratio=at_table[chosen].byte_hit_ratio,
        reason=f"{size_reason} {policy_reason}",
        bytes_saved_per_day=_round(at_table[chosen].byte_hit_ratio * bytes_per_day_total),
        margin_over_lru=_round(margin),
        knee_bytes=knee["cache_bytes"] if knee else None,
        knee=knee,
        robustness=robustness,
        size_basis=size_basis,
    )
    report(0.92, "tiers")

    # --- tiers and eviction priorities ----------------------------------------------------------
    memory_budget = options.memory_budget_bytes or max(1, min(size // 10, 4 * 2**30))
    stats = _object_stats(trace, counts, dist)
    tiers, thresholds = _tiers(trace, stats, options, size, memory_budget)
    priorities = _priorities(trace, stats, options, size)
    bytes_per_day = recommended.byte_hit_ratio * bytes_per_day_total
    price = float(options.egress_price_per_gb)
    savings = Savings(
        bytes_per_day=_round(bytes_per_day),
        usd_per_month=round(bytes_per_day * 30 / GB * price, 2),
        price_per_gb=price,
        price_source=options.price_source,
        usd_per_day=round(bytes_per_day / GB * price, 2),
        bytes_per_month=_round(bytes_per_day * 30),
        trace_days=_round(trace_days),
    )
    if sampled:
        notes.append(f"Sampled at rate {rate:.4f}: curve and policy figures are estimates (see sampling).")
    report(1.0, "done")
    return Evaluation(
        requests=n_req,
        objects=int((counts > 0).sum()),
        working_set_bytes=working_set,
        one_hit_objects=int((counts == 1).sum()),
        curve=curve,
        at_sizes=size_results,
        recommended=recommended,
        tiers=tiers,
        eviction_priorities=priorities,
        savings=savings,
        sampling=sampling,
        skipped_records=skipped_records,
        notes=notes,
        tier_thresholds=thresholds,
        policy_notes={p: pol.DESCRIPTIONS[p] for p in names},
        bounds=[p for p in names if p in pol.BOUNDS],
    )


def _default_sizes(sizes):
    working_set = int(sizes.sum())
    low = max(1, working_set // 1000, int(np.median(sizes)))
    high = max(working_set, low)
    return sorted(set(np.geomspace(low, high, 10).round().astype(np.int64).tolist()))


def _knee(grid, bhr):
    """Information only: the index of the point farthest above the chord of the curve in log-size space."""
    if len(grid) < 3 or bhr[-1] <= bhr[0]:
        return None
    x = np.log(grid.astype(np.float64))
    x = (x - x[0]) / (x[-1] - x[0])
    y = (bhr - bhr[0]) / (bhr[-1] - bhr[0])
    return int(np.argmax(y - x))


def _reuse_totals(trace, dist):
    """Per object, the sum of its requests' byte stack distances (first uses count nothing)."""
    return kernels.reuse_totals(trace.obj, dist, trace.n_obj)


def _object_stats(trace, counts, dist):
    """dist: _reuse_totals, or None when sampled."""
    n = trace.n_obj
    last_idx = np.zeros(n, dtype=np.int64)
    last = np.flatnonzero(trace.nxt == trace.n_req)  # each requested object's last request
    last_idx[trace.obj[last]] = last
    last_ts = trace.timestamps[last_idx]
    reuse_mean = np.full(n, np.inf)
    if dist is not None:
        total = dist
        uses = counts - 1
        reuse_mean = np.where(uses > 0, total / np.maximum(uses, 1), np.inf)
    else:
        # sampled logs: the mean request gap times the bytes per request, a rough byte reuse distance
        first_idx = np.full(n, trace.n_req, dtype=np.int64)
        np.minimum.at(first_idx, trace.obj, np.arange(trace.n_req))
        per_req = trace.req_size.mean()
        gaps = (last_idx - first_idx) / np.maximum(counts - 1, 1)
        reuse_mean = np.where(counts > 1, gaps * per_req, np.inf)
    return {"counts": counts, "last_ts": last_ts, "reuse": reuse_mean}


def _tiers(trace, stats, options, cache_bytes, memory_budget):
    t = options.tiers
    counts = stats["counts"]
    size = trace.osize
    reuse = stats["reuse"]
    end = int(trace.timestamps[-1])
    span = end - int(trace.timestamps[0])
    stale_ms = t.stale_after_days * DAY_MS if t.stale_after_days is not None else span / 2
    stale = (end - stats["last_ts"]) > stale_ms
    memory = (counts >= t.memory_min_requests) & (size <= t.memory_max_object_bytes) & (reuse <= memory_budget)
    disk = (counts >= t.disk_min_requests) & (size <= cache_bytes) & (reuse <= cache_bytes)
    # recency demotes one tier: a stale hot object goes to disk, a stale warm one is not cached
    memory_final = memory & ~stale
    disk_final = (disk & ~memory_final & ~stale) | (memory & stale)
    density = (counts - 1) / np.maximum(size, 1)
    memory_final = _fit_budget(memory_final, density, size, memory_budget, spill=disk_final)
    disk_final = _fit_budget(disk_final, density, size, max(0, cache_bytes - int(size[memory_final].sum())))
    none = ~(memory_final | disk_final) & (counts > 0)
    potential = np.maximum(counts - 1, 0)
    total_potential = int(potential.sum())
    tiers = []
    for name, mask in (("memory", memory_final), ("disk", disk_final), ("none", none)):
        ids = np.flatnonzero(mask)
        top = ids[np.argsort(-counts[ids], kind="stable")[: options.max_paths]]
        tiers.append(
            Tier(
                tier=name,
                objects=int(ids.size),
                bytes=int(size[ids].sum()),
                hit_share=_round(_ratio(potential[ids].sum(), total_potential)),
                paths=[trace.paths[i] for i in top.tolist()],
            )
        )
    thresholds = {
        "memory_budget_bytes": int(memory_budget),
        "disk_budget_bytes": int(cache_bytes),
        "memory_min_requests": t.memory_min_requests,
        "memory_max_object_bytes": int(t.memory_max_object_bytes),
        "disk_min_requests": t.disk_min_requests,
        "stale_after_days": _round(stale_ms / DAY_MS),
        "rule": "memory: requested at least memory_min_requests times, no larger than memory_max_object_bytes, "
        "mean byte reuse distance within the memory budget; disk: at least disk_min_requests requests, reuse "
        "within the recommended cache; an object idle longer than stale_after_days drops one tier; each tier "
        "keeps its highest hits-per-byte objects that fit its budget; hit_share is the tier's share of re-requests",
    }
    return tiers, thresholds


def _fit_budget(mask, density, size, budget, spill=None):
    ids = np.flatnonzero(mask)
    if ids.size == 0:
        return mask
    order = ids[np.argsort(-density[ids], kind="stable")]
    fits = np.cumsum(size[order]) <= budget
    kept = np.zeros_like(mask)
    kept[order[fits]] = True
    if spill is not None:
        spill |= mask & ~kept
    return kept


def _priorities(trace, stats, options, cache_bytes):
    counts = stats["counts"]
    size = trace.osize
    end = int(trace.timestamps[-1])
    idle = end - stats["last_ts"]
    candidates = np.flatnonzero((size <= cache_bytes) & (counts > 0))  # larger objects never enter the cache
    if candidates.size == 0 or options.max_paths == 0:
        return []
    # bytes held per expected request, inflated by how long the object has been idle
    score = size[candidates] / 1e6 * (1.0 + idle[candidates] / 3_600_000) / counts[candidates]
    top = candidates[np.argsort(-score, kind="stable")[: options.max_paths]]
    out = []
    reuse = stats["reuse"]
    for pos, obj in zip(np.argsort(-score, kind="stable")[: options.max_paths].tolist(), top.tolist(), strict=True):
        count = int(counts[obj])
        parts = ["one-hit wonder" if count == 1 else f"requested {count} times"]
        parts.append(human_bytes(size[obj]))
        parts.append(f"idle {human_duration(int(idle[obj]))} at the end of the log")
        if count > 1 and np.isfinite(reuse[obj]) and reuse[obj] > cache_bytes:
            parts.append(f"re-used only after {human_bytes(reuse[obj])} of other traffic, more than the cache holds")
        out.append(EvictionPriority(path=trace.paths[obj], score=round(float(score[pos]), 4), why="; ".join(parts)))
    return out
