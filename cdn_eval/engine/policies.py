"""The policy catalogue and a thread pool that runs (policy, size) simulations side by side."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from .trace import Trace

# Simplest first: within half a point of the best, the earlier one is recommended.
POLICIES = ("fifo", "lru", "sieve", "lfu", "s3fifo", "arc", "gdsf", "wtinylfu")
BOUNDS = ("belady",)
ALL = POLICIES + BOUNDS

DESCRIPTIONS = {
    "fifo": "FIFO: evicts in insertion order.",
    "lru": "LRU: evicts the least recently used.",
    "sieve": "SIEVE: FIFO with a visited bit and a moving hand.",
    "lfu": "LFU: evicts the least frequently used (ties: least recent).",
    "s3fifo": "S3-FIFO: small probationary FIFO, main FIFO and ghost FIFO.",
    "arc": "ARC: adaptive between recency and frequency, byte-sized.",
    "gdsf": "GDSF: GreedyDual-Size-Frequency, favours small popular objects.",
    "wtinylfu": "W-TinyLFU: 1% window LRU, then a segmented LRU that admits an object only if a count-min "
    "sketch says it is requested more often than the one it would evict.",
    "belady": "Belady (furthest next use): needs the future; with variable sizes a heuristic bound, not a "
    "proven optimum.",
}

_SIMULATORS = {name: getattr(kernels, f"sim_{name}") for name in POLICIES}


def simulate(trace: Trace, policy, cache_bytes, split=None):
    """(hits, byte_hits, hits_from_split, byte_hits_from_split) of one policy at one size."""
    cap = int(cache_bytes)
    split = trace.n_req if split is None else int(split)
    if policy == "belady":
        return kernels.sim_belady(trace.obj, trace.osize, trace.nxt, cap, split)
    return _SIMULATORS[policy](trace.obj, trace.osize, cap, split)


def workers():
    return max(1, min(4, os.cpu_count() or 1))


def run_many(jobs, progress=None):
    """jobs: list of (key, trace, policy, size, split) -> {key: simulate(...)}.

    The compiled simulators release the GIL, so threads use every core; longest jobs go first.
    """
    results = {}
    done = 0
    ordered = sorted(jobs, key=lambda job: (job[2] not in ("gdsf", "belady"), -job[1].n_req))
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        futures = [(job[0], pool.submit(simulate, job[1], job[2], job[3], job[4])) for job in ordered]
        for key, future in futures:
            results[key] = future.result()
            done += 1
            if progress:
                progress(done / len(futures))
    return results


def warm_up():
    """Compile (or load from cache) every simulator on a tiny trace."""
    from .trace import from_ids

    tiny = from_ids([0, 1, 0, 2, 1, 0], [1, 2, 1, 3, 2, 1])
    for name in ALL:
        simulate(tiny, name, 3)
    kernels.reuse_totals(tiny.obj, kernels.byte_stack_distances(tiny.obj, tiny.osize, tiny.n_obj), tiny.n_obj)
    kernels.next_use(tiny.obj, tiny.n_obj)
    kernels.fnv_digests(np.zeros((2, 3), np.uint32))
    keys, values = np.zeros(4, np.uint64), np.full(4, -1, np.int64)  # the parser's path table
    kernels.digest_table_put(keys, values, np.arange(2, dtype=np.uint64), 0)
    kernels.digest_table_grow(keys, values, np.zeros(8, np.uint64), np.full(8, -1, np.int64))
