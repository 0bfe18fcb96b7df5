"""Compiled inner loops (numba): one cache simulator per policy and the byte stack distances.

Every simulator takes the same inputs: `obj` (int64 object id per request, ids are dense 0..n_obj-1),
`osize` (int64 bytes per object id; a size change is a new id, so sizes never change), `cap` (cache
bytes) and `split` (a request index). It returns (hits, byte_hits, hits_after, byte_hits_after), the
last two counting only requests at or after `split`: one run gives a train/test split, because a
causal policy's first part does not depend on what comes after. Shared rules, the same as
libCacheSim's: a miss evicts until the object fits, then inserts it; an object larger than the cache
is never inserted and evicts nothing.

The loops are per request by nature (each decision depends on the previous state), so they are
compiled; `cache=True` keeps the machine code in __pycache__ so only the first run pays for it.
`nogil=True` lets the evaluator run several sizes on separate threads.
"""

import numpy as np
from numba import njit

JIT = {"cache": True, "nogil": True}
NIL = -1


# --- intrusive doubly linked lists over object ids --------------------------------------------
# Several lists share one pair of arrays (an object is in at most one list at a time); list `k`
# has heads[k] (most recent end) and tails[k] (oldest end). `newer[o]` points toward the head.


@njit(inline="always")
def _push_head(k, o, heads, tails, newer, older):
    h = heads[k]
    newer[o] = NIL
    older[o] = h
    if h != NIL:
        newer[h] = o
    else:
        tails[k] = o
    heads[k] = o


@njit(inline="always")
def _unlink(k, o, heads, tails, newer, older):
    n = newer[o]
    d = older[o]
    if n != NIL:
        older[n] = d
    else:
        heads[k] = d
    if d != NIL:
        newer[d] = n
    else:
        tails[k] = n
    newer[o] = NIL
    older[o] = NIL


@njit(**JIT)
def sim_lru(obj, osize, cap, split):
    n = osize.shape[0]
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    heads = np.full(1, NIL, np.int64)
    tails = np.full(1, NIL, np.int64)
    inside = np.zeros(n, np.bool_)
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        if inside[o]:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            if heads[0] != o:
                _unlink(0, o, heads, tails, newer, older)
                _push_head(0, o, heads, tails, newer, older)
            continue
        if s > cap:
            continue
        while used + s > cap:
            t = tails[0]
            _unlink(0, t, heads, tails, newer, older)
            inside[t] = False
            used -= osize[t]
        _push_head(0, o, heads, tails, newer, older)
        inside[o] = True
        used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_fifo(obj, osize, cap, split):
    n = osize.shape[0]
    ring = np.empty(n + 1, np.int64)  # at most n residents, so a ring of n+1 never overflows
    first = 0
    end = 0
    inside = np.zeros(n, np.bool_)
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    size = n + 1
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        if inside[o]:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            continue
        if s > cap:
            continue
        while used + s > cap:
            t = ring[first]
            first += 1
            if first == size:
                first = 0
            inside[t] = False
            used -= osize[t]
        ring[end] = o
        end += 1
        if end == size:
            end = 0
        inside[o] = True
        used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_sieve(obj, osize, cap, split):
    # SIEVE (Zhang et al., NSDI'24): FIFO order, a visited bit set on hit, and a hand that walks from
    # the oldest toward the newest clearing bits and evicts the first unvisited object.
    n = osize.shape[0]
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    heads = np.full(1, NIL, np.int64)
    tails = np.full(1, NIL, np.int64)
    inside = np.zeros(n, np.bool_)
    visited = np.zeros(n, np.bool_)
    hand = NIL
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        if inside[o]:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            visited[o] = True
            continue
        if s > cap:
            continue
        while used + s > cap:
            x = hand if hand != NIL else tails[0]
            while visited[x]:
                visited[x] = False
                x = newer[x] if newer[x] != NIL else tails[0]
            hand = newer[x]
            _unlink(0, x, heads, tails, newer, older)
            inside[x] = False
            used -= osize[x]
        _push_head(0, o, heads, tails, newer, older)
        inside[o] = True
        visited[o] = False
        used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_s3fifo(obj, osize, cap, split):
    # S3-FIFO (Yang et al., SOSP'23): a small FIFO (10% of bytes) filters one-hit wonders, a main FIFO
    # with 2-bit frequencies (reinserted while freq > 0) and a ghost FIFO of ids evicted from small.
    n = osize.shape[0]
    SMALL, MAIN, GHOST = 0, 1, 2
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    heads = np.full(3, NIL, np.int64)
    tails = np.full(3, NIL, np.int64)
    where = np.full(n, NIL, np.int8)
    freq = np.zeros(n, np.int8)
    small_cap = max(1, cap // 10)
    ghost_cap = cap - small_cap
    small_used = 0
    main_used = 0
    ghost_used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        w = where[o]
        if w == SMALL or w == MAIN:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            if freq[o] < 3:
                freq[o] += 1
            continue
        if s > cap:
            continue
        while small_used + main_used + s > cap:
            if small_used > small_cap or heads[MAIN] == NIL:
                t = tails[SMALL]
                _unlink(SMALL, t, heads, tails, newer, older)
                small_used -= osize[t]
                if freq[t] > 0:
                    freq[t] = 0
                    _push_head(MAIN, t, heads, tails, newer, older)
                    where[t] = MAIN
                    main_used += osize[t]
                else:
                    _push_head(GHOST, t, heads, tails, newer, older)
                    where[t] = GHOST
                    ghost_used += osize[t]
                    while ghost_used > ghost_cap:
                        g = tails[GHOST]
                        _unlink(GHOST, g, heads, tails, newer, older)
                        where[g] = NIL
                        ghost_used -= osize[g]
            else:
                t = tails[MAIN]
                _unlink(MAIN, t, heads, tails, newer, older)
                if freq[t] > 0:
                    freq[t] -= 1
                    _push_head(MAIN, t, heads, tails, newer, older)
                else:
                    where[t] = NIL
                    main_used -= osize[t]
        freq[o] = 0
        if where[o] == GHOST:
            _unlink(GHOST, o, heads, tails, newer, older)
            ghost_used -= s
            _push_head(MAIN, o, heads, tails, newer, older)
            where[o] = MAIN
            main_used += s
        else:
            _push_head(SMALL, o, heads, tails, newer, older)
            where[o] = SMALL
            small_used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_arc(obj, osize, cap, split):
    # ARC (Megiddo & Modha, FAST'03) with byte sizes: T1/T2 resident, B1/B2 ghosts, target p in bytes.
    n = osize.shape[0]
    T1, T2, B1, B2 = 0, 1, 2, 3
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    heads = np.full(4, NIL, np.int64)
    tails = np.full(4, NIL, np.int64)
    where = np.full(n, NIL, np.int8)
    used = np.zeros(4, np.int64)
    p = 0.0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        w = where[o]
        if w == T1 or w == T2:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            _unlink(w, o, heads, tails, newer, older)
            used[w] -= s
            _push_head(T2, o, heads, tails, newer, older)
            where[o] = T2
            used[T2] += s
            continue
        if s > cap:
            continue
        in_b2 = False
        if w == B1:
            ratio = used[B2] / used[B1] if used[B1] > 0 else 1.0
            p = min(float(cap), p + s * max(1.0, ratio))
            _unlink(B1, o, heads, tails, newer, older)
            used[B1] -= s
        elif w == B2:
            in_b2 = True
            ratio = used[B1] / used[B2] if used[B2] > 0 else 1.0
            p = max(0.0, p - s * max(1.0, ratio))
            _unlink(B2, o, heads, tails, newer, older)
            used[B2] -= s
        while used[T1] + used[T2] + s > cap:
            if used[T1] > 0 and (used[T1] > p or (in_b2 and used[T1] >= p) or used[T2] == 0):
                t = tails[T1]
                _unlink(T1, t, heads, tails, newer, older)
                used[T1] -= osize[t]
                _push_head(B1, t, heads, tails, newer, older)
                where[t] = B1
                used[B1] += osize[t]
            else:
                t = tails[T2]
                _unlink(T2, t, heads, tails, newer, older)
                used[T2] -= osize[t]
                _push_head(B2, t, heads, tails, newer, older)
                where[t] = B2
                used[B2] += osize[t]
        if w == B1 or w == B2:
            _push_head(T2, o, heads, tails, newer, older)
            where[o] = T2
            used[T2] += s
        else:
            _push_head(T1, o, heads, tails, newer, older)
            where[o] = T1
            used[T1] += s
        # ghosts remember at most one cache of history per side (c for T1+B1, 2c overall)
        while used[T1] + used[B1] > cap and heads[B1] != NIL:
            g = tails[B1]
            _unlink(B1, g, heads, tails, newer, older)
            where[g] = NIL
            used[B1] -= osize[g]
        while used[T1] + used[T2] + used[B1] + used[B2] > 2 * cap and heads[B2] != NIL:
            g = tails[B2]
            _unlink(B2, g, heads, tails, newer, older)
            where[g] = NIL
            used[B2] -= osize[g]
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_lfu(obj, osize, cap, split):
    # In-cache LFU in O(1): one LRU-ordered bucket per frequency, buckets chained in frequency order.
    n = osize.shape[0]
    maxf = 1 << 16  # frequencies saturate here; ties beyond it fall back to recency
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    bheads = np.full(maxf + 1, NIL, np.int64)
    btails = np.full(maxf + 1, NIL, np.int64)
    fnext = np.full(maxf + 1, NIL, np.int64)  # next higher non-empty frequency
    fprev = np.full(maxf + 1, NIL, np.int64)
    freq = np.zeros(n, np.int64)
    minf = NIL
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        f = freq[o]
        if f > 0:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            if f == maxf:
                _unlink(f, o, bheads, btails, newer, older)
                _push_head(f, o, bheads, btails, newer, older)
                continue
            g = f + 1
            if bheads[g] == NIL:  # open bucket g right after f
                nx = fnext[f]
                fnext[g] = nx
                fprev[g] = f
                if nx != NIL:
                    fprev[nx] = g
                fnext[f] = g
            _unlink(f, o, bheads, btails, newer, older)
            _push_head(g, o, bheads, btails, newer, older)
            freq[o] = g
            if bheads[f] == NIL:  # close bucket f
                pv = fprev[f]
                nx = fnext[f]
                if pv != NIL:
                    fnext[pv] = nx
                else:
                    minf = nx
                if nx != NIL:
                    fprev[nx] = pv
                fnext[f] = NIL
                fprev[f] = NIL
            continue
        if s > cap:
            continue
        while used + s > cap:
            t = btails[minf]
            _unlink(minf, t, bheads, btails, newer, older)
            freq[t] = 0
            used -= osize[t]
            if bheads[minf] == NIL:
                nx = fnext[minf]
                fnext[minf] = NIL
                if nx != NIL:
                    fprev[nx] = NIL
                minf = nx
        if bheads[1] == NIL:
            if minf != NIL:
                fnext[1] = minf
                fprev[minf] = 1
            fprev[1] = NIL
            minf = 1
        _push_head(1, o, bheads, btails, newer, older)
        freq[o] = 1
        used += s
    return hits, bhits, hits_after, bhits_after


# --- W-TinyLFU: window LRU + segmented main LRU, TinyLFU admission by a count-min sketch ---------

# One odd 64-bit multiplier per sketch row (multiply-shift hashing of the mixed id): fixed, so runs
# are reproducible.
_SKETCH_SEEDS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], dtype=np.uint64
)
_SKETCH_MAX = 15  # 4-bit counters, as in TinyLFU / Caffeine (held in uint8)


@njit(inline="always")
def _sketch_mix(o):
    # splitmix64 finaliser: dense ids 0, 1, 2, ... become well-spread 64-bit keys
    z = np.uint64(o) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _sketch_add(sketch, o, width, shift):
    z = _sketch_mix(o)
    for r in range(4):
        j = r * width + np.int64((z * _SKETCH_SEEDS[r]) >> shift)
        if sketch[j] < _SKETCH_MAX:
            sketch[j] += 1


@njit(inline="always")
def _sketch_estimate(sketch, o, width, shift):
    z = _sketch_mix(o)
    est = _SKETCH_MAX
    for r in range(4):
        c = sketch[r * width + np.int64((z * _SKETCH_SEEDS[r]) >> shift)]
        if c < est:
            est = c
    return est


@njit(**JIT)
def sim_wtinylfu(obj, osize, cap, split):
    # W-TinyLFU (Einziger, Friedman & Manes, TOS 2017; Caffeine's policy), byte-sized. Every new object
    # enters a window LRU of 1% of the bytes; the window's LRU victim is a candidate for the main
    # segmented LRU (probation, and protected up to 80% of the non-window bytes: a probation hit
    # promotes, protected overflow demotes its tail to probation's head). Main takes a candidate while
    # it has room; otherwise the candidate duels main's victim (probation tail, else protected tail)
    # and enters only if its sketch count is strictly higher, victim after victim until it fits.
    # Main may use whatever the window does not, so a cache that holds the working set never rejects
    # anything; when the window grows back within its share, its LRU object duels main's victim
    # (as in Caffeine). Objects larger than the window go straight on to admission.
    # Count-min sketch: 4 rows of `width` counters, every request increments; after `sample`
    # increments all counters and the sample count are halved (aging).
    n = osize.shape[0]
    WINDOW, PROBATION, PROTECTED = 0, 1, 2
    newer = np.full(n, NIL, np.int64)
    older = np.full(n, NIL, np.int64)
    heads = np.full(3, NIL, np.int64)
    tails = np.full(3, NIL, np.int64)
    where = np.full(n, NIL, np.int8)
    used = np.zeros(3, np.int64)
    window_cap = min(cap, max(1, cap // 100))
    protected_cap = (cap - window_cap) * 4 // 5
    total_size = 0.0
    for k in range(n):
        total_size += osize[k]
    mean_size = max(1.0, total_size / n) if n > 0 else 1.0
    # W = 10 x the objects the cache holds (at the mean object size), at least 4096
    sample = int(max(4096.0, min(10.0 * cap / mean_size, 1e15)))
    width = 64  # a power of two >= the distinct objects one sample can see, at most 2^22 (16 MB)
    bits = 6
    while width < min(n, sample) and bits < 22:
        width <<= 1
        bits += 1
    shift = np.uint64(64 - bits)
    sketch = np.zeros(4 * width, np.uint8)
    adds = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        _sketch_add(sketch, o, width, shift)
        adds += 1
        if adds >= sample:
            for k in range(sketch.shape[0]):
                sketch[k] >>= 1
            adds >>= 1
        w = where[o]
        if w != NIL:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            if w == PROBATION:
                _unlink(PROBATION, o, heads, tails, newer, older)
                used[PROBATION] -= s
                _push_head(PROTECTED, o, heads, tails, newer, older)
                where[o] = PROTECTED
                used[PROTECTED] += s
                while used[PROTECTED] > protected_cap:
                    t = tails[PROTECTED]
                    _unlink(PROTECTED, t, heads, tails, newer, older)
                    used[PROTECTED] -= osize[t]
                    _push_head(PROBATION, t, heads, tails, newer, older)
                    where[t] = PROBATION
                    used[PROBATION] += osize[t]
            elif heads[w] != o:
                _unlink(w, o, heads, tails, newer, older)
                _push_head(w, o, heads, tails, newer, older)
            continue
        if s > cap:
            continue
        _push_head(WINDOW, o, heads, tails, newer, older)
        where[o] = WINDOW
        used[WINDOW] += s
        while used[WINDOW] > window_cap:
            c = tails[WINDOW]
            sc = osize[c]
            _unlink(WINDOW, c, heads, tails, newer, older)
            where[c] = NIL
            used[WINDOW] -= sc
            if sc > cap - used[WINDOW]:
                continue  # could not fit even with main empty: dropped
            admit = True
            if used[WINDOW] + used[PROBATION] + used[PROTECTED] + sc > cap:
                fc = _sketch_estimate(sketch, c, width, shift)
                while used[WINDOW] + used[PROBATION] + used[PROTECTED] + sc > cap:
                    k = PROBATION if heads[PROBATION] != NIL else PROTECTED
                    v = tails[k]
                    if fc <= _sketch_estimate(sketch, v, width, shift):
                        admit = False
                        break
                    _unlink(k, v, heads, tails, newer, older)
                    where[v] = NIL
                    used[k] -= osize[v]
            if admit:
                _push_head(PROBATION, c, heads, tails, newer, older)
                where[c] = PROBATION
                used[PROBATION] += sc
        # The window grew back into bytes main had borrowed: the window's LRU object duels main's
        # victim and the less frequent one leaves (ties keep the victim), until the cache fits again.
        while used[WINDOW] + used[PROBATION] + used[PROTECTED] > cap:
            c = tails[WINDOW]
            k = PROBATION if heads[PROBATION] != NIL else PROTECTED
            v = tails[k]
            if _sketch_estimate(sketch, c, width, shift) > _sketch_estimate(sketch, v, width, shift):
                c = v
            else:
                k = WINDOW
            _unlink(k, c, heads, tails, newer, older)
            where[c] = NIL
            used[k] -= osize[c]
    return hits, bhits, hits_after, bhits_after


# --- indexed binary heap (min-heap on (key, tie)) shared by GDSF and Belady -------------------


@njit(inline="always")
def _less(a, b, key, tie):
    return key[a] < key[b] or (key[a] == key[b] and tie[a] < tie[b])


@njit(inline="always")
def _sift_up(heap, pos, key, tie, j):
    x = heap[j]
    while j > 0:
        parent = (j - 1) >> 1
        y = heap[parent]
        if _less(x, y, key, tie):
            heap[j] = y
            pos[y] = j
            j = parent
        else:
            break
    heap[j] = x
    pos[x] = j


@njit(inline="always")
def _sift_down(heap, pos, key, tie, j, size):
    x = heap[j]
    while True:
        c = 2 * j + 1
        if c >= size:
            break
        if c + 1 < size and _less(heap[c + 1], heap[c], key, tie):
            c += 1
        y = heap[c]
        if _less(y, x, key, tie):
            heap[j] = y
            pos[y] = j
            j = c
        else:
            break
    heap[j] = x
    pos[x] = j


@njit(inline="always")
def _heap_pop(heap, pos, key, tie, size):
    top = heap[0]
    size -= 1
    if size > 0:
        heap[0] = heap[size]
        pos[heap[0]] = 0
        _sift_down(heap, pos, key, tie, 0, size)
    pos[top] = NIL
    return top, size


@njit(**JIT)
def sim_gdsf(obj, osize, cap, split):
    # GreedyDual-Size-Frequency (Cherkasova 1998) with cost 1: H = L + freq / size, evict min H, L = H.
    n = osize.shape[0]
    heap = np.empty(n, np.int64)
    pos = np.full(n, NIL, np.int64)
    key = np.zeros(n, np.float64)
    tie = np.zeros(n, np.int64)  # last access: among equal H, evict the least recently used
    freq = np.zeros(n, np.int64)
    size = 0
    clock = 0.0
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        if pos[o] != NIL:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            freq[o] += 1
            key[o] = clock + freq[o] / max(s, 1)
            tie[o] = i
            _sift_down(heap, pos, key, tie, pos[o], size)
            continue
        if s > cap:
            continue
        while used + s > cap:
            t, size = _heap_pop(heap, pos, key, tie, size)
            clock = key[t]
            used -= osize[t]
            freq[t] = 0
        freq[o] = 1
        key[o] = clock + 1.0 / max(s, 1)
        tie[o] = i
        heap[size] = o
        pos[o] = size
        size += 1
        _sift_up(heap, pos, key, tie, size - 1)
        used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def sim_belady(obj, osize, nxt, cap, split):
    # Furthest next use first (Belady's MIN). Exact optimum for equal sizes; with variable sizes a
    # heuristic bound. An incoming object whose next use is later than every resident's is not admitted.
    n = osize.shape[0]
    heap = np.empty(n, np.int64)
    pos = np.full(n, NIL, np.int64)
    key = np.zeros(n, np.int64)  # minus next use, so the min-heap top is the furthest
    tie = np.zeros(n, np.int64)
    size = 0
    used = 0
    hits = 0
    bhits = 0
    hits_after = 0
    bhits_after = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = osize[o]
        if pos[o] != NIL:
            hits += 1
            bhits += s
            if i >= split:
                hits_after += 1
                bhits_after += s
            key[o] = -nxt[i]
            _sift_down(heap, pos, key, tie, pos[o], size)
            _sift_up(heap, pos, key, tie, pos[o])
            continue
        if s > cap:
            continue
        admit = True
        while used + s > cap:
            t = heap[0]
            if -key[t] <= nxt[i]:
                admit = False
                break
            t, size = _heap_pop(heap, pos, key, tie, size)
            used -= osize[t]
        if not admit:
            continue
        key[o] = -nxt[i]
        tie[o] = o
        heap[size] = o
        pos[o] = size
        size += 1
        _sift_up(heap, pos, key, tie, size - 1)
        used += s
    return hits, bhits, hits_after, bhits_after


@njit(**JIT)
def byte_stack_distances(obj, osize, n_obj):
    """LRU byte stack distance of every request: the bytes of the distinct objects used since the
    previous use of the same object, plus its own size; -1 for a first use.

    A Fenwick tree over request positions holds each object's size at its latest use (kept in a table
    per object), so the bytes between the previous use p and now are total - prefix(p): O(log N) per
    request.
    """
    n_req = obj.shape[0]
    tree = np.zeros(n_req + 1, np.int64)
    dist = np.empty(n_req, np.int64)
    latest = np.full(n_obj, -1, np.int64)
    total = 0
    for i in range(n_req):
        o = obj[i]
        s = osize[o]
        p = latest[o]
        latest[o] = i
        if p >= 0:
            acc = 0
            j = p + 1
            while j > 0:
                acc += tree[j]
                j -= j & (-j)
            dist[i] = total - acc + s
            j = p + 1
            while j <= n_req:
                tree[j] -= s
                j += j & (-j)
            total -= s
        else:
            dist[i] = -1
        j = i + 1
        while j <= n_req:
            tree[j] += s
            j += j & (-j)
        total += s
    return dist


@njit(**JIT)
def reuse_totals(obj, dist, n_obj):
    """Per object, the float sum of its requests' byte stack distances (dist < 0, first uses, skipped),
    added in request order: the same sums as np.bincount(obj[dist >= 0], weights=dist[dist >= 0])."""
    total = np.zeros(n_obj, np.float64)
    for i in range(obj.shape[0]):
        if dist[i] >= 0:
            total[obj[i]] += np.float64(dist[i])
    return total


# --- path interning (parsing) -------------------------------------------------------------------
# An open-addressing table from a path's 64-bit digest to its id. The digest only finds the slot:
# the caller checks that the path stored under the id is the same string (a collision is handled
# exactly there), so the table itself never decides that two paths are equal.


@njit(inline="always")
def _slot(d, mask):
    # murmur3's finaliser: every bit of the digest reaches the low bits the mask keeps
    d = (d ^ (d >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    d = d ^ (d >> np.uint64(33))
    return d & np.uint64(mask)


@njit(**JIT)
def digest_table_put(keys, values, digests, next_id):
    """For each digest: the id stored under it, or next_id (then next_id + 1, ...) stored as new.
    Returns (ids, is_new). `values` is -1 in empty slots; len(keys) is a power of two with room."""
    mask = keys.shape[0] - 1
    n = digests.shape[0]
    ids = np.empty(n, np.int64)
    is_new = np.zeros(n, np.bool_)
    for i in range(n):
        d = digests[i]
        slot = _slot(d, mask)
        while True:
            v = values[slot]
            if v < 0:
                keys[slot] = d
                values[slot] = next_id
                ids[i] = next_id
                is_new[i] = True
                next_id += 1
                break
            if keys[slot] == d:
                ids[i] = v
                break
            slot = (slot + np.uint64(1)) & np.uint64(mask)
    return ids, is_new


@njit(**JIT)
def digest_table_grow(keys, values, new_keys, new_values):
    """Re-insert every entry of (keys, values) into the larger empty table (new_keys, new_values)."""
    mask = new_keys.shape[0] - 1
    for i in range(keys.shape[0]):
        v = values[i]
        if v < 0:
            continue
        d = keys[i]
        slot = _slot(d, mask)
        while new_values[slot] >= 0:
            slot = (slot + np.uint64(1)) & np.uint64(mask)
        new_keys[slot] = d
        new_values[slot] = v


@njit(**JIT)
def next_use(obj, n_obj):
    """For every request, the index of the next request for the same object (n_req if none), in one
    backward pass with a table of each object's earliest request seen so far."""
    n = obj.shape[0]
    nxt = np.empty(n, np.int64)
    upcoming = np.full(n_obj, n, np.int64)
    for i in range(n - 1, -1, -1):
        o = obj[i]
        nxt[i] = upcoming[o]
        upcoming[o] = i
    return nxt


@njit(**JIT)
def fnv_digests(codes):
    """64-bit FNV-1a of each row of code points (uint32): (over the whole fixed width, NUL padding
    included; skipping zeros, so the same path has the same digest whatever the width)."""
    n, width = codes.shape
    padded = np.empty(n, np.uint64)
    unpadded = np.empty(n, np.uint64)
    prime = np.uint64(1099511628211)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        g = h
        for j in range(width):
            c = np.uint64(codes[i, j])
            h = (h ^ c) * prime
            if c != 0:
                g = (g ^ c) * prime
        padded[i] = h
        unpadded[i] = g
    return padded, unpadded
