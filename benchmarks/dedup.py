"""Dedup store benchmark: ingest speed, dedup ratios and bytes on the wire, on a generated corpus.

    .venv/bin/python benchmarks/dedup.py [--rounds 3] [--versions 20] [--quick]

Corpus (seeded numpy RNG, regenerated every run, never committed), shaped like the first customer's:
  firmware   20 successive versions of an 8 MiB image; each version rewrites a few regions and
             inserts and deletes bytes (so offsets shift); ~40% of an image is compressible tables
  media      3 incompressible 24 MiB files
  duplicates exact copies of 3 firmware versions and 1 media file under other names

Measured in one run (medians over rounds; machine noise hits all scenarios alike):
  hashlib.sha256 MB/s over the same bytes (the floor) and fsynced disk writes MB/s (the disk floor)
  dedup ratio of whole-file hashing, fixed 64 KiB blocks and CDC (and a sweep of CDC parameters)
  the store alone (services.put_file with the body's readinto and size, no HTTP): new data,
             already-stored data (media + 1 firmware; with and without the hash declared) and
             already-stored firmware versions (small-v1: ~400 chunks per 8 MiB file)
  HTTP PUT through gunicorn (1 worker, real PostgreSQL + Redis): new data, already-stored data
  the Python client (client-side dedup) uploading all versions: bytes on the wire vs logical bytes

It creates its own PostgreSQL database (BENCH_DATABASE_URL, default agentcache_bench_dedup) and
uses BENCH_REDIS_URL (default Redis DB 4); packs go to a temporary folder.
"""

import argparse
import hashlib
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentcache_bench_dedup")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
MiB = 1024 * 1024
SEED = 20261125


# --- Corpus -------------------------------------------------------------------------------------


def firmware_image(rng, size):
    """Random code sections mixed with compressible tables and padding."""
    parts, total = [], 0
    while total < size:
        kind = rng.random()
        length = int(rng.integers(4096, 65536))
        if kind < 0.6:
            part = rng.bytes(length)
        elif kind < 0.85:
            part = rng.integers(0, 16, length, dtype=np.uint8).tobytes()  # low-entropy tables
        else:
            part = b"\xff" * length  # erased flash padding
        parts.append(part)
        total += length
    return b"".join(parts)[:size]


def next_version(rng, image):
    """A few regions rewritten, some bytes inserted and deleted: later offsets shift."""
    out = bytearray(image)
    for _ in range(int(rng.integers(2, 5))):
        at = int(rng.integers(0, len(out) - 20000))
        length = int(rng.integers(512, 16384))
        out[at : at + length] = rng.bytes(length)
    for _ in range(int(rng.integers(1, 3))):
        at = int(rng.integers(0, len(out)))
        out[at:at] = rng.bytes(int(rng.integers(16, 4096)))
    for _ in range(int(rng.integers(1, 3))):
        at = int(rng.integers(0, len(out) - 5000))
        del out[at : at + int(rng.integers(16, 4096))]
    return bytes(out)


def build_corpus(versions=20, image_size=8 * MiB, media_files=3, media_size=24 * MiB):
    rng = np.random.default_rng(SEED)
    firmware = [firmware_image(rng, image_size)]
    for _ in range(versions - 1):
        firmware.append(next_version(rng, firmware[-1]))
    media = [rng.bytes(media_size) for _ in range(media_files)]
    files = [(f"firmware/v{i + 1:02d}.bin", data) for i, data in enumerate(firmware)]
    files += [(f"media/clip{i + 1}.mp4", data) for i, data in enumerate(media)]
    duplicates = [(f"mirror/v{i + 1:02d}.bin", firmware[i]) for i in (0, versions // 2, versions - 1)]
    duplicates.append(("mirror/clip1.mp4", media[0]))
    return firmware, media, files + duplicates


# --- Pure measurements ----------------------------------------------------------------------------


def mb_per_s(nbytes, seconds):
    return nbytes / seconds / 1e6


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sha256_floor(files):
    return timed(lambda: [hashlib.sha256(data).digest() for _, data in files])[0]


def fsync_floor(files, folder):
    def write():
        for index, (_, data) in enumerate(files):
            path = Path(folder) / f"floor-{index}"
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()

    return timed(write)[0]


def dedup_ratio_whole(files):
    unique = {hashlib.sha256(data).digest(): len(data) for data in files}
    return sum(len(d) for d in files) / sum(unique.values())


def dedup_ratio_fixed(files, block=64 * 1024):
    unique = {}
    for data in files:
        for at in range(0, len(data), block):
            piece = data[at : at + block]
            unique[hashlib.sha256(piece).digest()] = len(piece)
    return sum(len(d) for d in files) / sum(unique.values())


def dedup_ratio_cdc(files, profile):
    from dedup import chunking

    unique, count = {}, 0
    for data in files:
        for piece in chunking.iter_chunks(profile, [data]):
            unique[hashlib.sha256(piece).digest()] = len(piece)
            count += 1
    logical = sum(len(d) for d in files)
    return logical / sum(unique.values()), logical / count


def cdc_speed(files, profile):

    total = sum(len(d) for d in files)
    seconds, _ = timed(lambda: [sum(1 for _ in profile.cutter().cut_buf(memoryview(d))) for d in files])
    return mb_per_s(total, seconds)


# --- Django and services ---------------------------------------------------------------------------


def create_database():
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(blob_root):
    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="config.settings",
        BLOB_ROOT=str(blob_root),
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def provision():
    """A fresh organization with a file namespace and a key, on a plan with no storage quota."""
    from tenants import services
    from tenants.models import Namespace, Organization, Plan, Sector

    plan, _ = Plan.objects.update_or_create(
        slug="benchmark-dedup",
        defaults={"name": "Benchmark", "requests_per_second": None, "storage_quota_bytes": None},
    )
    sector, _ = Sector.objects.get_or_create(slug="benchmark", defaults={"name": "Benchmark"})
    organization = Organization.objects.create(
        name="Benchmark", slug=f"bench-dedup-{secrets.token_hex(4)}", sector=sector, plan=plan
    )
    from dedup.models import NamespaceConfig

    # Firmware and drivers cut small (16 KiB), media large (1 MiB): one profile per namespace.
    for name, profile in (("storage", "small-v1"), ("media", "large-v1")):
        namespace = Namespace.objects.create(organization=organization, name=name, nodes=["file_dedup_cache"])
        NamespaceConfig.objects.create(namespace=namespace, chunk_profile=profile)
    return organization, services.create_api_key(organization, label="benchmark").plaintext


def namespace_of(path):
    return "media" if path.endswith(".mp4") else "storage"


def store_ingest(key, files, prefix, declare_hash=False):
    """The store alone: stream each file through services.put_file (no HTTP). Returns (seconds, new bytes)."""
    import io

    from dedup import services
    from tenants.auth import resolve

    contexts = {name: resolve(key, name) for name in ("storage", "media")}
    # The caller (the client) already knows the hash; computing it is not part of the store's work.
    declared = {path: hashlib.sha256(data).digest() if declare_hash else None for path, data in files}
    new = 0
    start = time.perf_counter()
    for path, data in files:
        # expected_size: what the HTTP view passes from Content-Length.
        stream = io.BytesIO(data)
        _, ingested = services.put_file(
            contexts[namespace_of(path)],
            f"{prefix}/{path}",
            stream.read,
            declared_sha256=declared[path],
            expected_size=len(data),
            readinto=stream.readinto,
        )
        new += ingested.new_bytes
    return time.perf_counter() - start, new


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port, blob_root):
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_hex(32),
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "BLOB_ROOT": str(blob_root),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "300",
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


def http_put_all(port, key, files, prefix, declare_hash=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    declared = {path: hashlib.sha256(data).hexdigest() for path, data in files} if declare_hash else {}
    start = time.perf_counter()
    for path, data in files:
        headers = {"X-API-Key": key, "X-Namespace": namespace_of(path), "Content-Type": "application/octet-stream"}
        if declare_hash:
            headers["X-Content-SHA256"] = declared[path]
        conn.request("PUT", f"/api/files/{prefix}/{path}", body=data, headers=headers)
        response = conn.getresponse()
        reply = response.read()
        if response.status != 201:
            raise SystemExit(f"PUT failed: {response.status} {reply[:300]!r}")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def http_get_all(port, key, files, prefix):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    start = time.perf_counter()
    for path, data in files:
        conn.request(
            "GET", f"/api/files/{prefix}/{path}", headers={"X-API-Key": key, "X-Namespace": namespace_of(path)}
        )
        response = conn.getresponse()
        got = response.read()
        if got != data:
            raise SystemExit(f"GET {path} returned different bytes")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def client_upload_all(port, key, firmware, folder):
    """Client-side dedup: upload every version with the Python client; bytes sent per version."""
    from agentcache import Client

    client = Client(f"http://127.0.0.1:{port}", key, "storage")
    sent = []
    for index, data in enumerate(firmware):
        path = Path(folder) / f"v{index + 1:02d}.bin"
        path.write_bytes(data)
        before = client.bytes_sent
        client.upload(path, f"client/v{index + 1:02d}.bin")
        sent.append(client.bytes_sent - before)
        path.unlink()
    client.close()
    return sent


# --- Main ------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smaller corpus, one round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.versions = 1, 6

    t0 = time.perf_counter()
    firmware, media, files = build_corpus(versions=args.versions)
    total = sum(len(d) for _, d in files)
    print(
        f"corpus: {len(files)} files, {total / MiB:.1f} MiB ({len(firmware)} firmware versions of 8 MiB, "
        f"{len(media)} media files of 24 MiB, 4 exact duplicates); generated in {time.perf_counter() - t0:.1f} s"
    )

    work = Path(tempfile.mkdtemp(prefix="agentcache-bench-dedup-"))
    create_database()
    setup_django(work / "blobs")
    from dedup import chunking

    print(f"compiled FastCDC in use: {chunking.compiled_cutter_in_use()}")

    # Dedup ratios (deterministic: one pass).
    print("\n== dedup ratio on the firmware versions (logical / unique bytes) ==")
    whole = dedup_ratio_whole(firmware)
    fixed = dedup_ratio_fixed(firmware)
    print(f"  whole-file hashing       {whole:7.2f}x")
    print(f"  fixed 64 KiB blocks      {fixed:7.2f}x")
    candidates = [
        ("2K/8K/32K", chunking.ChunkingProfile("s8", 2048, 8192, 32768)),
        ("4K/16K/64K = small-v1", chunking.PROFILES["small-v1"]),
        ("8K/32K/128K", chunking.ChunkingProfile("s32", 8192, 32768, 131072)),
        ("16K/64K/256K", chunking.ChunkingProfile("s64", 16384, 65536, 262144)),
        ("256K/1M/4M = large-v1", chunking.PROFILES["large-v1"]),
    ]
    cdc_small = None
    for label, profile in candidates:
        ratio, mean = dedup_ratio_cdc(firmware, profile)
        speed = statistics.median(cdc_speed(firmware, profile) for _ in range(max(1, args.rounds)))
        manifest_kib = len(firmware[0]) / mean * 12 / 1024
        print(
            f"  CDC {label:22s} {ratio:7.2f}x   mean chunk {mean / 1024:7.1f} KiB   cut {speed:6.0f} MB/s"
            f"   manifest/8 MiB {manifest_kib:5.1f} KiB"
        )
        if profile is chunking.PROFILES["small-v1"]:
            cdc_small = ratio
    print(f"  CDC small-v1 vs whole-file: {cdc_small / whole:.1f}x (target >= 5x)")
    print("\n== chunk hash: SHA-256 vs BLAKE3 over small-v1 chunks of the firmware (MB/s, median) ==")
    import blake3

    pieces = [bytes(p) for data in firmware[:4] for p in chunking.iter_chunks(chunking.PROFILES["small-v1"], [data])]
    nbytes = sum(len(p) for p in pieces)
    for label, fn in (("sha256", hashlib.sha256), ("blake3", blake3.blake3)):
        speed = statistics.median(
            mb_per_s(nbytes, timed(lambda fn=fn: [fn(p).digest() for p in pieces])[0]) for _ in range(5)
        )
        print(f"  {label:8s} {speed:7.0f}")
    media_ratio, media_mean = dedup_ratio_cdc(media + [media[0]], chunking.PROFILES["large-v1"])
    print(f"  media + 1 duplicate, CDC large-v1: {media_ratio:.2f}x, mean chunk {media_mean / MiB:.2f} MiB")

    # Throughput rounds.
    new_files = [(p, d) for p, d in files if p.startswith("media/")] + [files[0]]  # all new to a fresh store
    new_total = sum(len(d) for _, d in new_files)
    firmware_files = [(p, d) for p, d in files if p.startswith("firmware/")]
    firmware_total = sum(len(d) for _, d in firmware_files)
    results = {
        name: []
        for name in (
            "sha256",
            "fsync",
            "store_new",
            "store_known",
            "store_known_hash",
            "store_known_fw",
            "http_new",
            "http_known",
            "http_known_hash",
            "http_get",
        )
    }
    port = free_port()
    server = start_gunicorn(port, work / "blobs")
    try:
        ratios = {name: [] for name in results}

        def record(name, speed, measured=new_files):
            # Each scenario is compared with SHA-256 measured on the same bytes right before it, so
            # machine noise (other processes) hits scenario and baseline alike.
            nbytes = sum(len(d) for _, d in measured)
            floor = mb_per_s(nbytes, timed(lambda: [hashlib.sha256(d).digest() for _, d in measured])[0])
            results[name].append(speed)
            ratios[name].append(speed / floor)

        for round_no in range(args.rounds):
            results["sha256"].append(mb_per_s(total, sha256_floor(files)))
            ratios["sha256"].append(1.0)
            record("fsync", mb_per_s(new_total, fsync_floor(new_files, work)))
            _, key = provision()
            seconds, new = store_ingest(key, new_files, "a")
            assert new >= new_total * 0.95, (new, new_total)
            record("store_new", mb_per_s(new_total, seconds))
            seconds, new = store_ingest(key, new_files, "b")
            assert new == 0
            record("store_known", mb_per_s(new_total, seconds))
            seconds, _ = store_ingest(key, new_files, "c", declare_hash=True)
            record("store_known_hash", mb_per_s(new_total, seconds))
            # The firmware versions (small-v1, ~400 chunks per file): stored once, then timed again.
            store_ingest(key, firmware_files, "fa")
            seconds, new = store_ingest(key, firmware_files, "fb")
            assert new == 0
            record("store_known_fw", mb_per_s(firmware_total, seconds), firmware_files)
            _, key = provision()
            record("http_new", mb_per_s(new_total, http_put_all(port, key, new_files, "a")))
            record("http_known", mb_per_s(new_total, http_put_all(port, key, new_files, "b")))
            record("http_known_hash", mb_per_s(new_total, http_put_all(port, key, new_files, "c", declare_hash=True)))
            record("http_get", mb_per_s(new_total, http_get_all(port, key, new_files, "a")))
            print(f"  round {round_no + 1}/{args.rounds} done")

        print(
            f"\n== ingest throughput (median of {args.rounds}; {new_total / MiB:.0f} MiB: 3 media + 1 firmware;"
            f" firmware versions: {len(firmware_files)} files, {firmware_total / MiB:.0f} MiB) =="
        )
        print("  scenario                                         MB/s   MiB/s   x sha256 measured just before")
        labels = {
            "sha256": "hashlib.sha256 (floor), whole corpus",
            "fsync": "write + fsync to the blob disk (disk floor)",
            "store_new": "store alone, new data",
            "store_known": "store alone, already stored",
            "store_known_hash": "store alone, already stored, hash declared",
            "store_known_fw": "store alone, already stored firmware versions",
            "http_new": "HTTP PUT, new data",
            "http_known": "HTTP PUT, already stored",
            "http_known_hash": "HTTP PUT, already stored, X-Content-SHA256",
            "http_get": "HTTP GET (verified reads)",
        }
        for name, label in labels.items():
            speed = statistics.median(results[name])
            print(f"  {label:46s} {speed:6.0f} {speed * 1e6 / MiB:7.0f}   {statistics.median(ratios[name]):5.2f}")

        print("\n== client-side dedup: Python client uploading every firmware version ==")
        _, key = provision()
        sent = client_upload_all(port, key, firmware, work)
        logical_rest = sum(len(d) for d in firmware[1:])
        sent_rest = sum(sent[1:])
        print(f"  version 1: {sent[0] / MiB:.2f} MiB sent of {len(firmware[0]) / MiB:.2f} MiB")
        print(
            f"  versions 2..{len(firmware)}: {sent_rest / MiB:.2f} MiB sent of {logical_rest / MiB:.1f} MiB logical"
            f" = {100 * sent_rest / logical_rest:.1f}% (target < 15%)"
        )
        print(
            f"  all versions: {sum(sent) / MiB:.2f} MiB on the wire for {sum(len(d) for d in firmware) / MiB:.1f}"
            f" MiB logical"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
