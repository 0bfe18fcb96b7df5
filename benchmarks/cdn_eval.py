"""Desktop-CDN evaluator benchmark: parse, exact LRU curve, policies, Belady, SHARDS, whole evaluation.

    .venv/bin/python benchmarks/cdn_eval.py            # 1M traces (alpha 0.8 and 1.0) + the 10M trace
    .venv/bin/python benchmarks/cdn_eval.py --quick    # smoke run: 200k traces, the "10M" section at 300k

The 10M section measures parse, the exact curve, each policy and Belady at one size, SHARDS, and the whole
evaluation end to end in a fresh process (given --eval-timeout seconds, default 900, else reported as
not finished). The whole evaluation runs as the job does: a fresh process reads the log from a file;
its total peak RSS (VmHWM) counts everything from the interpreter's start, numba included.

Traces are generated here, reproducibly (fixed seeds): Zipf popularity (alpha 0.8 and 1.0) over
n/5 objects, log-normal sizes with a 1 MB median (sigma 1), and 10% of requests to one-hit wonders.
Baselines measured in the same run: a per-size OrderedDict LRU and libCacheSim's LRU (C, reading a
binary trace) at 20 sizes, both compared with the one-pass curve (which must agree with them).
Timings are medians of --repeats runs; the machine is shared, so ratios matter more than absolutes.
"""

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdn_eval.engine import Options, evaluate_columns, from_columns, memory, parse_bytes, parse_file  # noqa: E402
from cdn_eval.engine import curve as curves  # noqa: E402
from cdn_eval.engine.policies import ALL, simulate, warm_up  # noqa: E402
from cdn_eval.engine.synthetic import zipf_trace  # noqa: E402

MB = 10**6
T0 = 1_700_000_000_000


def make_trace(n_req, alpha, seed):
    return zipf_trace(n_req, n_req // 5, alpha=alpha, seed=seed, median=MB, sigma=1.0, one_hit_share=0.1)


def ndjson_bytes(trace):
    stamps = (T0 + np.arange(trace.n_req, dtype=np.int64) * 250).tolist()
    sizes = trace.req_size.tolist()
    lines = [
        f'{{"timestamp":{t},"path":"/files/{o:08d}.bin","size":{s}}}'
        for t, o, s in zip(stamps, trace.obj.tolist(), sizes, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def csv_text(trace):
    stamps = (T0 + np.arange(trace.n_req, dtype=np.int64) * 250).tolist()
    rows = [
        f"{t},/files/{o:08d}.bin,{s}"
        for t, o, s in zip(stamps, trace.obj.tolist(), trace.req_size.tolist(), strict=True)
    ]
    return ("timestamp,path,size\n" + "\n".join(rows) + "\n").encode()


def timed(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ordered_dict_lru(obj, size_of, cap):
    cache = OrderedDict()
    used = hits = byte_hits = 0
    for o in obj:
        s = size_of[o]
        if o in cache:
            cache.move_to_end(o)
            hits += 1
            byte_hits += s
            continue
        if s > cap:
            continue
        while used + s > cap:
            _, evicted = cache.popitem(last=False)
            used -= evicted
        cache[o] = s
        used += s
    return hits, byte_hits


def libcachesim_sweep(trace, sizes):
    import libcachesim  # test/benchmark-only dependency (GPL): never imported by the app

    record = np.dtype([("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    rows = np.zeros(trace.n_req, dtype=record)
    rows["t"] = np.arange(trace.n_req)
    rows["id"] = trace.obj + 1
    rows["size"] = trace.req_size
    rows["next"] = -1
    with tempfile.NamedTemporaryFile(suffix=".oracleGeneral.bin", delete=False) as handle:
        rows.tofile(handle)
        path = handle.name
    hashpower = max(16, int(np.ceil(np.log2(max(2, trace.n_obj)))) + 1)  # the default 24 allocates 16M slots
    try:
        out = []
        start = time.perf_counter()
        for cap in sizes:
            reader = libcachesim.TraceReader(path, libcachesim.TraceType.ORACLE_GENERAL_TRACE)
            cache = libcachesim.LRU(int(cap), hashpower=hashpower)
            miss_ratio, byte_miss_ratio = cache.process_trace(reader)
            out.append((1 - miss_ratio, 1 - byte_miss_ratio))
        return time.perf_counter() - start, out
    finally:
        os.unlink(path)


def child_evaluation(log_path):
    """Run in a fresh process, as the job does: read the log file, parse, build the trace, evaluate.
    Prints seconds, total peak RSS (VmHWM, from process start: interpreter, numpy, numba, the compiled
    kernels and the evaluation), the RSS before the log is read, and the recommended policy."""
    memory.keep_large_arrays_mapped()  # as the Celery job and the command do
    warm_up()  # load the compiled kernels (counted in the total; not in the seconds)
    gc.collect()
    baseline = _status_bytes("VmRSS")
    start = time.perf_counter()
    columns = parse_file(log_path)
    result = evaluate_columns(columns, Options.from_dict({})).to_dict()
    seconds = time.perf_counter() - start
    peak = _status_bytes("VmHWM")
    print(f"{seconds} {baseline} {peak} {result['recommended']['policy']}")


def write_log(data):
    """The log in a temporary file, for the fresh process to read (the caller deletes it)."""
    with tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False) as handle:
        handle.write(data)
    return handle.name


def run_child(log_path, timeout=None):
    """(seconds, RSS before the log is read, total peak RSS (VmHWM), log bytes, policy), or None on timeout."""
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child-eval", log_path],
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    seconds, baseline, peak, policy = out.stdout.split()
    return float(seconds), int(baseline), int(peak), os.path.getsize(log_path), policy


def _status_bytes(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def section(title):
    print(f"\n== {title}")


def bench_1m(n_req, alpha, seed, repeats, baselines):
    section(f"{n_req:,} requests, Zipf alpha {alpha}")
    trace = make_trace(n_req, alpha, seed)
    data = ndjson_bytes(trace)
    present = trace.osize[np.unique(trace.obj)]
    print(f"objects {present.size:,}, working set {present.sum() / 1e9:.1f} GB, NDJSON {len(data) / 1e6:.0f} MB")

    seconds, columns = timed(lambda: parse_bytes(data), repeats)
    print(f"parse NDJSON: {seconds:.2f} s = {n_req / seconds:,.0f} lines/s (target >= 700,000)")
    csv_data = csv_text(trace)
    seconds_csv, _ = timed(lambda: parse_bytes(csv_data), repeats)
    print(f"parse CSV:    {seconds_csv:.2f} s = {n_req / seconds_csv:,.0f} lines/s")
    csv_data = None  # free it before the next measurements
    seconds_build, parsed = timed(lambda: from_columns(columns), repeats)
    print(f"build trace (sort, ids, next uses): {seconds_build:.2f} s")

    grid = curves.curve_grid(present)

    def exact_curve():
        profile, _ = curves.stack_profile(parsed)
        return curves.lru_counts(parsed, profile, grid)

    seconds_curve, (hits, byte_hits) = timed(exact_curve, repeats)
    below = int((grid < int(present.max())).sum())
    print(
        f"exact byte-weighted LRU curve, {grid.size} sizes ({below} below the largest object, run directly): "
        f"{seconds_curve:.2f} s = {seconds_curve / (n_req / 1e6):.2f} s per 1M requests (target <= 2.5)"
    )

    sweep = np.unique(np.geomspace(int(present.max()), int(present.sum()), 20).round().astype(np.int64))
    profile, _ = curves.stack_profile(parsed)
    curve_hits, curve_bytes = curves.lru_counts(parsed, profile, sweep)
    seconds_profile, _ = timed(lambda: curves.lru_counts(parsed, curves.stack_profile(parsed)[0], sweep), repeats)
    print(f"  (the one pass answering only the sweeps' 20 sizes: {seconds_profile:.2f} s)")
    # the comparison: the sweeps answer 20 sizes, the full exact curve answers all of the grid's
    full = f"the full exact curve at {grid.size} sizes"
    if baselines:
        size_of = parsed.osize.tolist()
        obj = parsed.obj.tolist()
        start = time.perf_counter()
        od = [ordered_dict_lru(obj, size_of, int(c)) for c in sweep]
        seconds_od = time.perf_counter() - start
        agree_od = all(od[k] == (int(curve_hits[k]), int(curve_bytes[k])) for k in range(len(sweep)))
        print(
            f"  baseline OrderedDict LRU, 20 sizes: {seconds_od:.2f} s "
            f"({seconds_od / seconds_curve:.1f}x {full}); same hits at every size: {agree_od}"
        )
        seconds_lcs, lcs = libcachesim_sweep(parsed, sweep)
        agree_lcs = all(
            abs(lcs[k][0] - curve_hits[k] / n_req) < 1e-9
            and abs(lcs[k][1] - curve_bytes[k] / parsed.req_size.sum()) < 1e-9
            for k in range(len(sweep))
        )
        print(
            f"  baseline libCacheSim LRU (C), 20 sizes: {seconds_lcs:.2f} s "
            f"({seconds_lcs / seconds_curve:.1f}x {full}); same ratios at every size: {agree_lcs}"
        )

    policies_at_one_size(parsed, present, repeats)

    exact_hr = hits / n_req
    exact_bhr = byte_hits / parsed.req_size.sum()
    seconds_shards, (hr, bhr, info) = timed(lambda: curves.shards_curve(parsed, 0.1, grid), repeats)
    print(
        f"SHARDS at 10%: {seconds_shards:.2f} s, MAE vs exact curve: hit ratio "
        f"{np.abs(hr - exact_hr).mean():.4f}, byte hit ratio {np.abs(bhr - exact_bhr).mean():.4f} (target <= 0.01)"
    )

    log_path = write_log(data)
    try:
        seconds_file, _ = timed(lambda: parse_file(log_path), repeats)
        print(
            f"parse NDJSON file (read piece by piece, as the job does): {seconds_file:.2f} s = "
            f"{n_req / seconds_file:,.0f} lines/s"
        )
        data = columns = parsed = None  # the child processes measure memory, not this one
        runs = [run_child(log_path) for _ in range(repeats)]
    finally:
        os.unlink(log_path)
    report_evaluation(runs, target=" (target <= 15)", memory_target=" (target <= 300 MB)")


def policies_at_one_size(parsed, present, repeats):
    n_req = parsed.n_req
    cap = int(present.sum() // 20)
    print(f"policies at one size ({cap / 1e9:.1f} GB = 5% of the working set), median of {repeats}:")
    for name in ALL:
        seconds_p, (h, b, *_rest) = timed(lambda name=name: simulate(parsed, name, cap), repeats)
        print(
            f"  {name:<8} {n_req / seconds_p / 1e6:6.2f} M requests/s  hit {h / n_req:.3f}  "
            f"byte hit {b / parsed.req_size.sum():.3f}"
            + ("  (target >= 1.3 M/s)" if name != "belady" else "  (heuristic bound with variable sizes)")
        )


def report_evaluation(runs, target="", timeout=None, memory_target=""):
    finished = [r for r in runs if r is not None]
    if not finished:
        print(f"whole evaluation, fresh process: did not finish within {timeout:.0f} s")
        return
    seconds_eval = statistics.median(r[0] for r in finished)
    baseline = statistics.median(r[1] for r in finished)
    peak = statistics.median(r[2] for r in finished)
    grown = statistics.median(r[2] - r[1] for r in finished)
    _, _, _, size, policy = finished[0]
    print(
        f"whole evaluation (read the {size / 1e6:.0f} MB file + parse + trace + curve + {len(ALL)} policies x 10 sizes "
        f"+ recommendations), fresh process: {seconds_eval:.1f} s{target}; total peak RSS (VmHWM) "
        f"{peak / 2**20:.0f} MiB = {peak / 1e6:.0f} MB{memory_target}, of which {baseline / 2**20:.0f} MiB "
        f"before the log is read (interpreter, numpy, numba, compiled kernels) and {grown / 2**20:.0f} MiB for the "
        f"evaluation; recommended policy {policy}"
    )


def bench_10m(n_req, alpha, seed, repeats, eval_timeout):
    section(f"{n_req:,} requests, Zipf alpha {alpha}")
    trace = make_trace(n_req, alpha, seed)
    data = ndjson_bytes(trace)
    del trace
    seconds, columns = timed(lambda: parse_bytes(data), 1)
    print(
        f"parse NDJSON ({len(data) / 1e6:.0f} MB): {seconds:.1f} s = {n_req / seconds:,.0f} lines/s (target >= 700,000)"
    )
    log_path = write_log(data)
    data = columns = None  # free them before the next measurements
    seconds, columns = timed(lambda: parse_file(log_path), 1)
    print(f"parse NDJSON file (read piece by piece): {seconds:.1f} s = {n_req / seconds:,.0f} lines/s")
    parsed = from_columns(columns)
    del columns
    present = parsed.osize[np.unique(parsed.obj)]
    grid = curves.curve_grid(present)

    def exact_curve():
        profile, _ = curves.stack_profile(parsed)
        return curves.lru_counts(parsed, profile, grid)

    seconds_curve, (hits, byte_hits) = timed(exact_curve, 1)
    print(
        f"exact LRU curve, {grid.size} sizes: {seconds_curve:.1f} s = {seconds_curve / (n_req / 1e6):.2f} s per 1M "
        "requests"
    )
    exact_hr = hits / n_req
    exact_bhr = byte_hits / parsed.req_size.sum()
    for rate in (0.1, 0.01):
        seconds_shards, (hr, bhr, info) = timed(lambda rate=rate: curves.shards_curve(parsed, rate, grid), 1)
        print(
            f"SHARDS at {rate:.0%}: {seconds_shards:.1f} s ({info['sampled_requests']:,} requests kept), MAE vs exact: "
            f"hit ratio {np.abs(hr - exact_hr).mean():.4f}, byte hit ratio {np.abs(bhr - exact_bhr).mean():.4f}"
        )
    policies_at_one_size(parsed, present, repeats)
    parsed = hits = byte_hits = None  # free the trace before the child process builds its own
    gc.collect()
    # At this size the evaluator still runs every policy exactly (sampling starts above 10M requests):
    # about 100 simulations of the whole trace, so it gets a time limit rather than holding up the run.
    try:
        report_evaluation([run_child(log_path, timeout=eval_timeout)], timeout=eval_timeout)
    finally:
        os.unlink(log_path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-10m", action="store_true")
    parser.add_argument("--big-requests", type=int, help="requests in the 10M section (default 10M, 300k with --quick)")
    parser.add_argument("--eval-timeout", type=float, default=900.0, help="seconds for the 10M whole evaluation")
    parser.add_argument("--child-eval", metavar="LOG")
    args = parser.parse_args()
    if args.child_eval:
        child_evaluation(args.child_eval)
        return
    start = time.perf_counter()
    warm_up()
    print(f"numba kernels ready in {time.perf_counter() - start:.1f} s (compiled once, then cached in __pycache__)")
    n_req = 200_000 if args.quick else 1_000_000
    for k, alpha in enumerate((0.8, 1.0)):
        bench_1m(n_req, alpha, seed=k + 1, repeats=args.repeats, baselines=True)
    if not args.skip_10m:
        big = args.big_requests or (300_000 if args.quick else 10_000_000)
        bench_10m(big, 0.8, seed=3, repeats=1, eval_timeout=args.eval_timeout)
    print(f"\ntotal benchmark time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
