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
        # window 1, protected 1: 0 -> probation when 1 arrives; 1 -> probation when 2 arrives; 0 hits,
        # promoted; 3 arrives and candidate 2 (count 1) ties probation's tail 1 (count 1): rejected;
        # 0 hits (protected); 1 hits (probation). 0, 0 and 1 all hit, like Belady.
        ("wtinylfu", 3),
    ],
)
def test_hand_worked_unit_sizes(policy, hits):
    assert simulate(HAND, policy, 3)[:2] == (hits, hits)


def test_s3fifo_by_hand_unit_sizes():
    # Cache 3 objects: small FIFO 1 (cap // 10, at least 1), ghost 2. S/M/G listed newest first.
    #  0 m S=[0];  1 m S=[1,0];  0 hit (freq 1);  2 m S=[2,1,0]
    #  3 m: small (3) is over its 1: tail 0 has freq 1 -> main M=[0] (freq reset); tail 1 (freq 0) -> ghost
    #       G=[1]; 3 fits: S=[3,2]
    #  1 m: small over: tail 2 -> ghost G=[2,1]; 1 was a ghost -> straight to main M=[1,0]
    #  0 hit (main, freq 1)
    #  2 m: small holds 1, not over: main tail 0 has freq 1 -> reinserted with 0, M=[0,1]; tail 1 (freq 0)
    #       evicted; 2 was a ghost -> M=[2,0]
    #  3 hit (small, freq 1)
    #  1 m (forgotten): main tail 0 (freq 0) evicted; S=[1,3]
    #  0 m: small over: tail 3 (freq 1) -> main M=[3,2]; main tail 2 (freq 0) evicted; S=[0,1]
    #  3 hit (main)                                                  -> 4 hits
    # LRU keeps the last 3 objects and hits only the second 0 and the last 3.
    trace = from_ids([0, 1, 0, 2, 3, 1, 0, 2, 3, 1, 0, 3], [1] * 4)
    assert simulate(trace, "s3fifo", 3)[:2] == (4, 4)
    assert simulate(trace, "lru", 3)[:2] == (2, 2)


def test_s3fifo_by_hand_with_sizes():
    # Cache 10 bytes: small 1 byte, ghost 9 bytes. Sizes 0:1 1:5 2:4 3:3.
    #  0 m; 0 hit (1 B, freq 1); 1 m; 2 m: S=[2,1,0], 10 bytes
    #  3 m: small over: 0 (freq 1) -> main; 1 (freq 0) -> ghost (5 B); 3 fits: S=[3,2], M=[0]
    #  1 m: small over: 2 -> ghost (9 B, at the ghost's cap); 1 from the ghost -> M=[1,0]
    #  0 hit (2 B total, freq 1)
    #  2 m (4 B): small over: 3 -> ghost; 2 from the ghost -> M=[2,1,0], 10 bytes, S empty
    #  3 m (3 B): main tail 0 has freq 1: reinserted, M=[0,2,1]; tail 1 (freq 0) evicted; 3 from the
    #       ghost -> M=[3,0,2], 8 bytes
    #  1 m (forgotten, 5 B): main tail 2 evicted; S=[1]
    #  0 hit (3 B total)
    #  2 m (4 B): small (5 B) over: 1 (freq 0) -> ghost; S=[2]
    #  3 hit (3 B)                                                   -> 4 hits, 6 bytes
    trace = from_ids([0, 0, 1, 2, 3, 1, 0, 2, 3, 1, 0, 2, 3], [1, 5, 4, 3])
    assert simulate(trace, "s3fifo", 10)[:2] == (4, 6)


def test_arc_by_hand():
    # Cache 2 objects; p is the target size of T1 (recency side). Lists newest first.
    #  0 m T1=[0];  0 hit -> T2=[0];  1 m T1=[1]
    #  2 m: full, |T1| 1 > p 0: T1's tail 1 -> B1; T1=[2]
    #  1 m, a B1 ghost: p += max(|B2|/|B1|, 1) = 1; |T1| 1 is not > p 1 and T2 is not empty: T2's tail 0
    #       -> B2; 1 -> T2.   T1=[2] T2=[1] B2=[0]
    #  0 m, a B2 ghost: p -= max(|B1|/|B2|, 1) -> 0; |T1| 1 > 0: 2 -> B1; 0 -> T2=[0,1]
    #  2 m, a B1 ghost: p -> 1; T1 empty: T2's tail 1 -> B2; T2=[2,0]
    #  0 hit, T2=[0,2]
    #  1 m, a B2 ghost: p -> 0; T1 empty: 2 -> B2; T2=[1,0]
    #  2 m, a B2 ghost: p stays 0; 0 -> B2; T2=[2,1]
    #  1 hit                                                         -> 3 hits
    # (LRU gets 4 here: ARC's adaptation costs it on this short, alternating trace.)
    trace = from_ids([0, 0, 1, 2, 1, 0, 2, 0, 1, 2, 1], [1] * 3)
    assert simulate(trace, "arc", 2)[:2] == (3, 3)
    assert simulate(trace, "lru", 2)[:2] == (4, 4)


def test_gdsf_by_hand_prefers_small_popular_objects():
    # Cache 4 bytes, sizes 0:1 1:2 2:2 3:1. H = L + freq / size; evict the lowest H and set L to it.
    #  0 m H0=1;  1 m H1=0.5;  0 hit H0=2 (1 B)
    #  2 m: evict 1 (0.5), L=0.5; H2=1.0
    #  1 m: evict 2 (1.0), L=1.0; H1=1.5
    #  3 m: fits (4 bytes used); H3=2.0
    #  0 hit: H0 = 1.0 + 3 = 4.0 (2 B)
    #  2 m: evict 1 (1.5), L=1.5; H2=2.0
    #  3 hit: H3 = 1.5 + 2 = 3.5 (3 B)
    #  1 m: evict 2 (2.0), L=2.0; H1=2.5
    #  2 m: evict 1 (2.5), L=2.5; H2=3.0
    #  0 hit (4 B)                                                   -> 4 hits, 4 bytes
    trace = from_ids([0, 1, 0, 2, 1, 3, 0, 2, 3, 1, 2, 0], [1, 2, 2, 1])
    assert simulate(trace, "gdsf", 4)[:2] == (4, 4)


def test_gdsf_by_hand_breaks_ties_by_least_recent_use():
    # Cache 2 unit objects. 0 and 1 both have H=1; 2 arrives: the tie evicts 0 (used longest ago), L=1,
    # H2=2. 1 hits: H1 = 1 + 2 = 3. 0 misses: evicts 2 (H 2 < 3). 1 hits.   -> 2 hits
    # (Evicting the most recent, 1, on the tie would give 1 hit.)
    trace = from_ids([0, 1, 2, 1, 0, 1], [1] * 3)
    assert simulate(trace, "gdsf", 2)[:2] == (2, 2)


def test_wtinylfu_keeps_a_frequent_object_through_a_scan_of_one_hit_wonders():
    # Room for 3 unit objects: window 1, main 2 (protected at most 1). 0 is requested three times, then
    # a scan 1..5 of new objects, then 0 and 1 again.
    #  0 0 0: miss, two window hits (0's count is 3)
    #  1: window overflows, 0 goes to probation (room);  2: 1 goes to probation (room)
    #  3, 4, 5: candidates 2, 3, 4 (count 1) each lose to probation's tail 0 (count 3): rejected
    #  0: probation hit, promoted;  1: probation hit, promoted (0 demoted)  -> 4 hits
    # LRU keeps only the last 3 objects, so the scan flushes 0 and 1: 2 hits.
    trace = from_ids([0, 0, 0, 1, 2, 3, 4, 5, 0, 1], [1] * 6)
    assert simulate(trace, "wtinylfu", 3)[:2] == (4, 4)
    assert simulate(trace, "lru", 3)[:2] == (2, 2)


def test_wtinylfu_admits_only_a_strictly_more_frequent_candidate():
    # Room for 3 unit objects (window 1, main 2, protected 1).
    #  0 1 2: 0 and 1 reach probation (room), 2 sits in the window
    #  3: candidate 2 (count 1) vs probation tail 0 (count 1): a tie, 2 rejected
    #  3: window hit (count 2)
    #  4: candidate 3 (count 2) beats tail 0 (count 1): 0 evicted, 3 admitted; probation 3, 1
    #  0: candidate 4 (count 1) ties tail 1 (count 1): rejected
    #  3: probation hit, promoted;  1: probation hit, promoted (3 demoted to probation)
    #  2: candidate 0 (count 2) loses to tail 3 (count 3);  4: candidate 2 (count 2) loses too
    trace = from_ids([0, 1, 2, 3, 3, 4, 0, 3, 1, 2, 4], [1] * 5)
    assert simulate(trace, "wtinylfu", 3)[:2] == (3, 3)


def test_wtinylfu_byte_sized_duels_victim_after_victim():
    # Cache 4 bytes: window 1, protected at most 2. Objects 0-3 are 1 byte, object 4 is 3 bytes.
    #  0 1 2 3: 0, 1, 2 reach probation (room), 3 sits in the window; the cache is full
    #  4 (count 1): candidate 3 ties tail 0, rejected; 4 itself (larger than the window) ties 0: rejected
    #  4 (count 2): beats tail 0 (count 1), evicted; still no room, beats tail 1, evicted; 4 admitted
    #  4: probation hit (3 bytes); promoted but larger than protected, so back to probation
    #  2: probation hit, promoted
    #  0 (count 2): fits the empty window, but the cache is over by a byte: 0 (window LRU) duels
    #     main's victim 4 (count 3) and loses, so 4 stays
    #  4: hit (3 bytes)                                              -> 3 hits, 7 bytes
    trace = from_ids([0, 1, 2, 3, 4, 4, 4, 2, 0, 4], [1, 1, 1, 1, 3])
    assert simulate(trace, "wtinylfu", 4)[:2] == (3, 7)


@pytest.mark.parametrize("sized", [False, True])
def test_wtinylfu_resists_a_scan_that_flushes_lru(sized):
    # A hot set of 40 objects, each round in a new order, then a scan of 200 objects never seen again;
    # the cache holds the hot set 1.5 times. Between two uses of a hot object LRU sees ~240 distinct
    # objects, so it keeps none of them; W-TinyLFU's sketch rejects the once-seen scan objects.
    rng = np.random.default_rng(7)
    hot, scan, rounds = 40, 200, 25
    ids = []
    for r in range(rounds):
        ids += rng.permutation(hot).tolist()
        ids += range(hot + r * scan, hot + (r + 1) * scan)
    n_obj = hot + rounds * scan
    sizes = rng.integers(1, 1000, n_obj) if sized else np.ones(n_obj, np.int64)
    trace = from_ids(ids, sizes)
    cap = int(sizes[:hot].sum() * 1.5)
    total_bytes = int(trace.req_size.sum())
    lru_hits, lru_bytes = simulate(trace, "lru", cap)[:2]
    hits, byte_hits = simulate(trace, "wtinylfu", cap)[:2]
    hot_reuses = hot * (rounds - 1)  # the best possible: every hot request after the first round
    assert lru_hits < 0.05 * hot_reuses
    assert hits > 0.8 * hot_reuses
    assert hits / trace.n_req > lru_hits / trace.n_req + 0.1
    assert byte_hits / total_bytes > lru_bytes / total_bytes + 0.05


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
def test_object_larger_than_the_cache_leaves_a_full_cache_alone(policy):
    # 0, 1, 2 fill the 3-byte cache; 3 (10 bytes) must not displace anything, so 2 still hits
    trace = from_ids([0, 1, 2, 3, 2], [1, 1, 1, 10])
    assert simulate(trace, policy, 3)[:2] == (1, 1)


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
    dist = kernels.byte_stack_distances(trace.obj, trace.osize, trace.n_obj)
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
