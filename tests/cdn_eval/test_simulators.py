"""Simulators on small hand-worked traces, and against libCacheSim on larger ones."""

import numpy as np
import pytest

from cdn_eval.engine import curve, from_ids, kernels
from cdn_eval.engine.policies import ALL, simulate
from cdn_eval.engine.synthetic import zipf_trace

# ids 0,1,2,0,3,0,1 with unit sizes and room for 3 objects; worked out by hand in the comments.
HAND = from_ids([0, 1, 2, 0, 3, 0, 1], [1, 1, 1, 1])


@pytest.mark.parametrize(
    "policy, hits",
    [
        ("lru", 2),  # 0 hits; 3 evicts 1 (least recent); 0 hits; 1 misses
        ("fifo", 1),  # 0 hits; 3 evicts 0 (oldest); 0 misses, evicting 1; 1 misses
        ("sieve", 2),  # 0 hits (visited); 3: hand clears 0, evicts 1; 0 hits; 1: hand evicts 2
        ("lfu", 2),  # 0 hits (freq 2); 3 evicts 1 (freq 1, least recent); 0 hits; 1 evicts 2
        ("belady", 3),  # 3 is never used again, so it is not admitted: 0, 0 and 1 all hit
    ],
)
def test_hand_worked_unit_sizes(policy, hits):
    assert simulate(HAND, policy, 3)[:2] == (hits, hits)


def test_lru_with_sizes_evicts_until_the_new_object_fits():
    # sizes 0:2 1:3 2:4, cache 6. 0,1 miss (5 used); 0 hits; 2 (4 bytes) evicts 1 -> {0,2}=6;
    # 1 evicts 0 and 2 -> {1}; 0 misses -> {1,0}. One hit of 2 bytes.
    trace = from_ids([0, 1, 0, 2, 1, 0], [2, 3, 4])
    assert simulate(trace, "lru", 6)[:2] == (1, 2)
    assert simulate(trace, "fifo", 6)[:2] == (1, 2)


@pytest.mark.parametrize("policy", ALL)
def test_object_larger_than_the_cache_never_hits_and_evicts_nothing(policy):
    trace = from_ids([0, 1, 0, 1, 0], [2, 10])
    hits, byte_hits = simulate(trace, policy, 5)[:2]
    assert (hits, byte_hits) == (2, 4)


@pytest.mark.parametrize("policy", ALL)
def test_split_counts_only_the_tail(policy):
    trace = zipf_trace(3000, 300, seed=4)
    cap = int(trace.osize.sum() // 5)
    hits, byte_hits, tail_hits, tail_bytes = simulate(trace, policy, cap, split=2000)
    assert 0 < tail_hits < hits and 0 < tail_bytes < byte_hits
    assert simulate(trace, policy, cap, split=0)[2:] == (hits, byte_hits)


def test_byte_stack_distance_by_hand():
    # 0 (1 B), 1 (2 B), 2 (4 B), then 0 again: 2 + 4 bytes in between plus its own byte = 7
    trace = from_ids([0, 1, 2, 0, 0], [1, 2, 4])
    dist = kernels.byte_stack_distances(trace.obj, trace.osize, trace.prev)
    assert dist.tolist() == [-1, -1, -1, 7, 1]


def test_unlimited_cache_hits_every_re_request():
    trace = zipf_trace(2000, 500, seed=2)
    cap = int(trace.osize.sum())
    reuses = trace.n_req - np.unique(trace.obj).size
    for policy in ALL:
        assert simulate(trace, policy, cap)[0] == reuses, policy


# --- agreement with libCacheSim (test-only dependency) ------------------------------------------

# libCacheSim is a test-only dependency (GPL): requirements-dev.txt installs it, so a missing one is a failure.
import libcachesim  # noqa: E402


def reference(cls, trace, cap):
    cache = cls(cap)
    hits = byte_hits = 0
    request = libcachesim.Request()
    for o in trace.obj.tolist():
        size = int(trace.osize[o])
        request.obj_id = o + 1
        request.obj_size = size
        if cache.get(request):
            hits += 1
            byte_hits += size
    return hits, byte_hits


TRACES = {
    "zipf-0.9": zipf_trace(12_000, 2_000, alpha=0.9, seed=11),
    "zipf-0.7-wide-sizes": zipf_trace(12_000, 3_000, alpha=0.7, seed=12, sigma=1.8),
}
FRACTIONS = (0.002, 0.01, 0.05, 0.15, 0.4)


@pytest.mark.parametrize("name", sorted(TRACES))
@pytest.mark.parametrize("policy, cls_name", [("lru", "LRU"), ("fifo", "FIFO"), ("sieve", "Sieve")])
def test_same_hits_and_byte_hits_as_libcachesim(name, policy, cls_name):
    trace = TRACES[name]
    working_set = int(trace.osize.sum())
    for fraction in FRACTIONS:
        cap = int(working_set * fraction)
        ours = simulate(trace, policy, cap)[:2]
        theirs = reference(getattr(libcachesim, cls_name), trace, cap)
        assert ours == theirs, (policy, name, cap)


@pytest.mark.parametrize("name", sorted(TRACES))
def test_one_pass_curve_matches_libcachesim_lru(name):
    trace = TRACES[name]
    profile, _ = curve.stack_profile(trace)
    sizes = [int(trace.osize.sum() * f) for f in FRACTIONS] + [int(trace.osize.max()) + 1]
    hits, byte_hits = curve.lru_counts(trace, profile, sizes)
    for k, cap in enumerate(sizes):
        assert (int(hits[k]), int(byte_hits[k])) == reference(libcachesim.LRU, trace, cap), cap
