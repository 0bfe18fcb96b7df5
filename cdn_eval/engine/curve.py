"""Exact LRU miss-ratio curves from byte stack distances, and SHARDS sampling for large logs.

With variable sizes, LRU holds the most recent objects that fit, so a request hits at cache size C
exactly when its byte stack distance (bytes of distinct objects since its previous use, plus its
own size) is <= C: one O(N log N) pass answers every size at once. One subtlety keeps it honest:
an object larger than C is never admitted (libCacheSim's rule), so it does not push others out,
while the stack distance counts it. Sizes at or above the largest object are therefore exact from
the one pass; the few curve points below it are simulated directly (LRU, O(N) each).
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import kernels
from .paths import take as take_paths
from .trace import Trace, from_ids


@dataclass
class StackProfile:
    """Sorted hit distances of a trace; answers hit counts at any size >= its exact floor."""

    n_req: int
    total_bytes: int
    sorted_dist: np.ndarray  # byte stack distances of re-uses, ascending
    cum_bytes: np.ndarray  # cumulative request bytes in that order
    exact_from: int  # sizes >= this are exact (the largest object)

    def counts(self, cache_bytes):
        cache_bytes = np.asarray(cache_bytes, dtype=np.int64)
        k = np.searchsorted(self.sorted_dist, cache_bytes, side="right")
        hits = k.astype(np.int64)
        byte_hits = np.where(k > 0, self.cum_bytes[np.maximum(k - 1, 0)] if self.cum_bytes.size else 0, 0)
        return hits, byte_hits


def stack_profile(trace: Trace, dist=None):
    if dist is None:
        dist = kernels.byte_stack_distances(trace.obj, trace.osize, trace.n_obj)
    # one array per re-use at a time where possible: this is the evaluation's peak of memory
    reuse = dist >= 0
    sorted_dist = dist[reuse]
    order = np.argsort(sorted_dist, kind="stable")
    sorted_dist = sorted_dist[order]
    cum_bytes = trace.obj[reuse]
    del reuse
    cum_bytes = cum_bytes[order]
    del order
    np.take(trace.osize, cum_bytes, out=cum_bytes)  # object ids -> their sizes, in place
    np.cumsum(cum_bytes, out=cum_bytes)
    counts = np.bincount(trace.obj, minlength=trace.n_obj)  # not trace.req_size: no array per request
    return StackProfile(
        n_req=trace.n_req,
        total_bytes=int(trace.osize @ counts),
        sorted_dist=sorted_dist,
        cum_bytes=cum_bytes,
        exact_from=int(trace.osize[counts > 0].max()) if trace.n_req else 0,
    ), dist


MIN_POINTS = 100


def curve_grid(sizes, points=120, below_largest=12, min_points=MIN_POINTS):
    """Log-spaced cache sizes (sizes: the requested objects' sizes) from well below the smallest object
    to the working set. Most points sit at or above the largest object, where the one-pass answer is
    exact; `below_largest` points cover the range under it, each costing one direct LRU run.

    Whole bytes only, so a small working set has few sizes to offer: the grid has at least `min_points`
    points whenever the working set is at least `min_points` bytes (rounding merges log-spaced points,
    so evenly spaced sizes from 1 byte fill it up), else every size from 1 byte to the working set."""
    working_set = int(sizes.sum())
    if working_set <= min_points:
        return np.arange(1, max(working_set, 1) + 1, dtype=np.int64)
    low = max(1, int(sizes.min()) // 2, working_set // 100_000)
    high = max(working_set, low + 1)
    pivot = min(max(int(sizes.max()), low), high)
    below = np.geomspace(low, pivot, below_largest + 1)[:-1] if pivot > low else np.array([])
    above = np.geomspace(pivot, high, points - below.size)
    grid = np.unique(np.concatenate([below, above]).round().astype(np.int64))
    if grid.size < min_points:
        # steps of at least one byte between 1 and the working set: min_points distinct sizes
        fill = np.linspace(1, working_set, min_points).round().astype(np.int64)
        grid = np.union1d(grid, fill)
    return grid


def lru_counts(trace: Trace, profile: StackProfile, sizes, workers=2):
    """Exact (hits, byte_hits) of LRU at every size: stack distances, plus direct runs below the largest object."""
    sizes = np.asarray(sizes, dtype=np.int64)
    hits, byte_hits = profile.counts(sizes)
    below = [k for k, size in enumerate(sizes.tolist()) if size < profile.exact_from]

    def run(k):
        cap = int(sizes[k])
        # Objects larger than the cache never enter, so dropping their requests changes nothing else.
        keep = trace.osize[trace.obj] <= cap
        obj = trace.obj[keep]
        del keep  # the request sizes and the mask go before the run: two run at once
        return k, kernels.sim_lru(obj, trace.osize, cap, 0)[:2]

    if below:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for k, (h, b) in pool.map(run, below):
                hits[k] = h
                byte_hits[k] = b
    return hits, byte_hits


def _mix(x):
    """splitmix64 finaliser: a fixed, well-spread hash of object ids for spatial sampling."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


SAMPLE_MODULUS = 1 << 24


@dataclass
class Sample:
    trace: Trace
    rate: float  # exact threshold / modulus
    kept_requests: int
    kept_objects: int


def shards_sample(trace: Trace, rate, start_rate=0.0):
    """Keep every request of the objects whose hash falls in [start_rate, rate) of the hash space
    (SHARDS fixed-rate sampling; a non-zero start gives disjoint sub-samples for error estimates)."""
    threshold = max(1, int(round(rate * SAMPLE_MODULUS)))
    start = int(round(start_rate * SAMPLE_MODULUS))
    bucket = _mix(np.arange(trace.n_obj, dtype=np.uint64)) % np.uint64(SAMPLE_MODULUS)
    keep_obj = (bucket >= np.uint64(start)) & (bucket < np.uint64(threshold))
    threshold -= start
    keep = keep_obj[trace.obj]
    old_ids = np.flatnonzero(keep_obj)
    remap = np.full(trace.n_obj, -1, dtype=np.int64)
    remap[old_ids] = np.arange(old_ids.size)
    sub = from_ids(remap[trace.obj[keep]], trace.osize[old_ids], trace.timestamps[keep])
    sub.paths = take_paths(trace.paths, old_ids)
    return Sample(sub, threshold / SAMPLE_MODULUS, int(keep.sum()), int(old_ids.size))


HOT_OBJECTS = 1000


def shards_curve(trace: Trace, rate, sizes, start_rate=0.0, hot_objects=HOT_OBJECTS):
    """LRU curve estimate by SHARDS (Waldspurger et al., FAST'15) with two refinements for sizes and skew.

    Objects are sampled by hash at `rate`; each sampled object stands for 1/R objects, so its bytes
    count 1/R times in every stack distance and its requests 1/R times in the hit counts. The
    `hot_objects` most requested objects, and as many carrying the most requested bytes, are always
    kept at weight 1: under Zipf popularity whether
    one of them falls into the sample would otherwise dominate the error. As in SHARDS-adj, the
    difference between the real and the estimated request (and byte) totals is credited to the
    smallest distance. Returns (hit_ratio, byte_hit_ratio, info).
    """
    counts = np.bincount(trace.obj, minlength=trace.n_obj)
    hot = np.zeros(trace.n_obj, dtype=bool)
    if hot_objects:
        # the most requested objects carry the hit ratio, the most requested bytes the byte hit ratio
        for weight in (counts, counts * trace.osize):
            top = np.argsort(-weight, kind="stable")[:hot_objects]
            hot[top[counts[top] > 1]] = True
    threshold = max(1, int(round(rate * SAMPLE_MODULUS)))
    start = int(round(start_rate * SAMPLE_MODULUS))
    bucket = _mix(np.arange(trace.n_obj, dtype=np.uint64)) % np.uint64(SAMPLE_MODULUS)
    sampled = (bucket >= np.uint64(start)) & (bucket < np.uint64(threshold)) & ~hot
    exact_rate = (threshold - start) / SAMPLE_MODULUS
    weight = np.where(hot, 1.0, 1.0 / exact_rate)
    keep_obj = hot | sampled
    keep = keep_obj[trace.obj]
    old_ids = np.flatnonzero(keep_obj)
    remap = np.full(trace.n_obj, -1, dtype=np.int64)
    remap[old_ids] = np.arange(old_ids.size)
    sub = from_ids(remap[trace.obj[keep]], trace.osize[old_ids], trace.timestamps[keep])
    sub_weight = weight[old_ids]
    weighted_size = np.round(sub.osize * sub_weight).astype(np.int64)
    info = {
        "rate": exact_rate,
        "sampled_requests": int(keep.sum()),
        "sampled_objects": int(old_ids.size),
        "hot_objects_exact": int(hot.sum()),
    }
    n_sizes = len(sizes)
    if sub.n_req == 0:
        return np.zeros(n_sizes), np.zeros(n_sizes), info
    dist = kernels.byte_stack_distances(sub.obj, weighted_size, sub.n_obj)
    own = sub.req_size
    w = sub_weight[sub.obj]
    reuse = dist >= 0
    estimate = (dist - weighted_size[sub.obj] + own)[reuse]
    order = np.argsort(estimate, kind="stable")
    estimate = estimate[order]
    cum_hits = np.cumsum(w[reuse][order])
    cum_bytes = np.cumsum((w * own)[reuse][order])
    total_req = float(trace.n_req)
    total_bytes = float(trace.req_size.sum())
    adj_req = total_req - float(w.sum())
    adj_bytes = total_bytes - float((w * own).sum())
    k = np.searchsorted(estimate, np.asarray(sizes, dtype=np.int64), side="right")
    prior = np.maximum(k - 1, 0)
    hits = np.where(k > 0, cum_hits[prior] if cum_hits.size else 0, 0) + adj_req
    byte_hits = np.where(k > 0, cum_bytes[prior] if cum_bytes.size else 0, 0) + adj_bytes
    hit_ratio = np.clip(hits / total_req, 0.0, 1.0)
    byte_hit_ratio = np.clip(byte_hits / total_bytes, 0.0, 1.0) if total_bytes > 0 else np.zeros(n_sizes)
    return hit_ratio, byte_hit_ratio, info
