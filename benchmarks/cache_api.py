"""Cache API throughput and latency under gunicorn (2 workers), real Redis and PostgreSQL, with wrk.

    .venv/bin/python benchmarks/cache_api.py [--duration 3] [--rounds 9] [--connections 8] [--strict]

Scenarios, interleaved round by round so machine noise hits them alike (medians reported):
  floor      a minimal Django view doing one Redis GET and returning JSON (the baseline)
  get-hit    POST /api/cache/get, ~100-byte JSON values, 1000 keys in rotation
  get-miss   POST /api/cache/get on keys never set
  set-1k     POST /api/cache/set, 1 KiB values
  mget-100   POST /api/cache/mget of 100 keys (all hits)

It creates (or migrates) its own PostgreSQL database, provisions a tenant on a plan with a
huge per-second limit (so the rate-limit step runs but never refuses), starts gunicorn with
the floor view enabled (CACHE_API_BENCHMARK_FLOOR=1), and needs `wrk` (Debian package).
Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL override the defaults below.

Prints PASS/FAIL against the issue's targets (get-hit >= 0.75 x the floor's req/s; mget-100 >= 20 x
the keys/s of single gets). Exit status, after all figures are printed: 1 if any response was not
2xx (the figures then measure errors, not the API), 2 if wrk failed, 3 with --strict if a target failed.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentcache_bench_cache")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
HIT_KEYS = 1000
MGET_SIZE = 100
SCENARIOS = ("floor", "get-hit", "get-miss", "set-1k", "mget-100")
FLOOR_RATIO_TARGET = 0.75
MGET_KEYS_RATIO_TARGET = 20.0


class WrkFailed(Exception):
    """wrk could not run or its output could not be read: no figure of that run is trustworthy."""


def create_database():
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    os.environ.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def provision():
    """A fresh organization with one namespace and a key; plan limits high enough never to refuse."""
    from tenants import services
    from tenants.models import Namespace, Organization, Plan, Sector

    plan, _ = Plan.objects.update_or_create(
        slug="benchmark",
        defaults={"name": "Benchmark", "requests_per_second": 10**9, "max_value_bytes": 1024 * 1024},
    )
    sector, _ = Sector.objects.get_or_create(slug="benchmark", defaults={"name": "Benchmark"})
    organization = Organization.objects.create(
        name="Benchmark", slug=f"benchmark-{secrets.token_hex(4)}", sector=sector, plan=plan
    )
    Namespace.objects.create(organization=organization, name="bench", nodes=["kv_cache"], default_ttl=3600)
    return services.create_api_key(organization, label="benchmark").plaintext


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port):
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_hex(32),
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CACHE_API_BENCHMARK_FLOOR": "1",
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not come up")


def post(port, path, body, key):
    import orjson

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", "X-API-Key": key, "X-Namespace": "bench"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def preload(port, key):
    from django_redis import get_redis_connection

    from cache_api.floor import FLOOR_KEY

    value = {"user": 42, "name": "Ada Lovelace", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
    for start in range(0, HIT_KEYS, 500):
        items = [{"key": f"hit:{i}", "value": value, "ttl": 3600} for i in range(start, start + 500)]
        post(port, "/api/cache/mset", {"items": items}, key)
    import orjson

    get_redis_connection("default").set(FLOOR_KEY, orjson.dumps(value))
    sample = post(port, "/api/cache/get", {"key": "hit:1"}, key)
    assert sample["hit"] and sample["value"] == value, sample


LUA_COMMON = """
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = "%(key)s", ["X-Namespace"] = "bench"}
local bodies = {}
local n = 0
local i = 0
request = function()
  i = i %% n + 1
  return wrk.format("POST", "%(path)s", headers, bodies[i])
end
"""


def lua_script(scenario, key):
    if scenario == "floor":
        return 'request = function() return wrk.format("GET", "/api/cache/_floor") end\n'
    path = {
        "get-hit": "/api/cache/get",
        "get-miss": "/api/cache/get",
        "set-1k": "/api/cache/set",
        "mget-100": "/api/cache/mget",
    }[scenario]
    body = LUA_COMMON % {"key": key, "path": path}
    if scenario == "get-hit":
        fill = f'for k = 0, {HIT_KEYS - 1} do bodies[k + 1] = string.format(\'{{"key":"hit:%d"}}\', k) end'
    elif scenario == "get-miss":
        fill = 'for k = 0, 9999 do bodies[k + 1] = string.format(\'{"key":"miss:%d"}\', k) end'
    elif scenario == "set-1k":
        # A JSON string of 1022 characters plus its quotes: 1024 bytes stored.
        fill = (
            "local v = string.rep('x', 1022)\n"
            'for k = 0, 999 do bodies[k + 1] = string.format(\'{"key":"set:%d","value":"%s","ttl":600}\', k, v) end'
        )
    else:
        fill = (
            "for k = 0, 9 do local ks = {}\n"
            f"  for j = 0, {MGET_SIZE - 1} do"
            f" ks[j + 1] = string.format('\"hit:%d\"', (k * {MGET_SIZE} + j) % {HIT_KEYS}) end\n"
            "  bodies[k + 1] = '{\"keys\":[' .. table.concat(ks, ',') .. ']}' end"
        )
    return body + fill + "\nn = #bodies\n"


def parse_duration(text):
    value, unit = float(re.match(r"[\d.]+", text).group()), re.sub(r"[\d.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def worker_cpu_seconds(master_pid):
    """User+system CPU seconds used so far by the gunicorn workers (children of the master)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as children:
        for pid in children.read().split():
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def run_wrk(port, script_path, duration, connections, threads, master_pid=None):
    cpu_before = worker_cpu_seconds(master_pid) if master_pid else 0.0
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        script_path,
        f"http://127.0.0.1:{port}",
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WrkFailed(f"could not run {' '.join(command)}: {exc}") from exc
    out = completed.stdout
    if completed.returncode != 0:
        detail = (completed.stderr or out).strip()[-2000:] or "no output"
        raise WrkFailed(f"wrk exited with status {completed.returncode} for {script_path}: {detail}")
    cpu = worker_cpu_seconds(master_pid) - cpu_before if master_pid else 0.0
    rps_match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total_match = re.search(r"(\d+) requests in", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    if rps_match is None or total_match is None or set(latency) != {"50", "99"}:
        raise WrkFailed(f"unexpected wrk output for {script_path} (no req/s or latency figures):\n{out[-2000:]}")
    rps, total = float(rps_match.group(1)), int(total_match.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": parse_duration(latency["50"]),
        "p99_ms": parse_duration(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "worker_cpu_us": cpu / total * 1e6 if total else 0.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--strict", action="store_true", help="exit 3 if a target is not met")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    try:
        status = run(args)
    except WrkFailed as exc:
        print(f"\nbenchmark aborted, wrk failed: {exc}", file=sys.stderr, flush=True)
        status = 2
    sys.exit(status)


def run(args):
    """Provision, start gunicorn, run every round, print the figures; returns the exit status."""
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    create_database()
    setup_django()
    key = provision()
    port = free_port()
    server = start_gunicorn(port)
    try:
        preload(port, key)
        workdir = Path(tempfile.mkdtemp(prefix="bench-cache-api-"))
        scripts = {}
        for scenario in SCENARIOS:
            path = workdir / f"{scenario}.lua"
            path.write_text(lua_script(scenario, key))
            scripts[scenario] = str(path)
        warm_up_failures = 0
        for scenario in SCENARIOS:  # warm-up: every worker resolves the key and loads its code
            warm_up_failures += run_wrk(port, scripts[scenario], 1, args.connections, args.threads)["non_2xx"]
        results = {scenario: [] for scenario in SCENARIOS}
        for round_number in range(1, args.rounds + 1):
            for scenario in SCENARIOS:
                result = run_wrk(port, scripts[scenario], args.duration, args.connections, args.threads, server.pid)
                results[scenario].append(result)
                print(
                    f"round {round_number} {scenario:9s} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:6.2f} ms"
                    f"  p99 {result['p99_ms']:6.2f} ms  worker CPU {result['worker_cpu_us']:6.0f} us/req"
                    f"  non-2xx {result['non_2xx']} {result['socket_errors']}",
                    flush=True,
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    def median(scenario, field):
        return statistics.median(r[field] for r in results[scenario])

    print(
        f"\ngunicorn 2 sync workers, wrk -t{args.threads} -c{args.connections}, {args.duration} s x "
        f"{args.rounds} rounds, medians:"
    )
    print(f"{'scenario':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'worker CPU us/req':>18s}")
    for scenario in SCENARIOS:
        print(
            f"{scenario:10s} {median(scenario, 'rps'):9.1f} {median(scenario, 'p50_ms'):8.2f} "
            f"{median(scenario, 'p99_ms'):8.2f} {median(scenario, 'worker_cpu_us'):18.0f}"
        )

    def ratio(scenario, baseline="floor", scale=1):
        """Median over rounds of the ratio within a round: runs minutes apart on a shared machine drift."""
        return statistics.median(
            r["rps"] * scale / base["rps"] for r, base in zip(results[scenario], results[baseline], strict=True)
        )

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    floor_ratio = ratio("get-hit")
    mget_ratio = ratio("mget-100", "get-hit", MGET_SIZE)
    floor_ok, mget_ok = floor_ratio >= FLOOR_RATIO_TARGET, mget_ratio >= MGET_KEYS_RATIO_TARGET
    print("\nratios (median of per-round ratios; each round runs every scenario back to back):")
    print(f"get-hit / floor:  {floor_ratio:.2f}  (target >= {FLOOR_RATIO_TARGET}) {verdict(floor_ok)}")
    print(f"get-miss / floor: {ratio('get-miss'):.2f}")
    print(f"set-1k / floor:   {ratio('set-1k'):.2f}")
    mget_keys = median("mget-100", "rps") * MGET_SIZE
    print(
        f"mget-100 keys/s {mget_keys:.0f} vs get-hit keys/s {median('get-hit', 'rps'):.0f}: "
        f"{mget_ratio:.1f}x  (target >= {MGET_KEYS_RATIO_TARGET:.0f}x) {verdict(mget_ok)}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine competes for the CPUs)")
    failures = sum(r["non_2xx"] for runs in results.values() for r in runs)
    print(f"non-2xx responses in all measured runs: {failures} (warm-up: {warm_up_failures})")
    if failures or warm_up_failures:
        print("FAIL: some responses were not 2xx, so the figures above do not measure the API", file=sys.stderr)
        return 1
    if args.strict and not (floor_ok and mget_ok):
        return 3
    return 0


if __name__ == "__main__":
    main()
