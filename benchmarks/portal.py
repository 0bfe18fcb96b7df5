"""Usage rollup and dashboard benchmark, on the real PostgreSQL and Redis.

    .venv/bin/python benchmarks/portal.py [--namespaces 300] [--rounds 5]

(a) Rollup: every namespace gets counters, then one rollup pass folds them into UsageDaily.
    Baseline, measured in the same round: the Redis part alone (begin_drain + finish_drain for
    the same namespaces, no database). Also an idle pass (nothing to fold), the cost beat pays
    every few minutes for quiet namespaces.
(b) Dashboard: an organization with 3 namespaces x 365 days of UsageDaily rows plus live
    counters, rendered through Django's test client for ranges of 7, 30 and 365 days: latency
    and SQL queries per render.
Medians over the rounds. Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL override the defaults.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentcache_bench_portal")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")


def create_database():
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fresh_organization(slug, namespaces):
    from tenants.models import Membership, Namespace, Organization, Plan, Sector, User

    Organization.objects.filter(slug=slug).delete()
    org = Organization.objects.create(
        name=slug, slug=slug, sector=Sector.objects.get(slug="filestorage"), plan=Plan.objects.get(slug="enterprise")
    )
    Namespace.objects.bulk_create(
        [Namespace(organization=org, name=f"ns{i}", nodes=["kv_cache"]) for i in range(namespaces)]
    )
    user, _ = User.objects.get_or_create(email=f"{slug}@bench.example")
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": "owner"})
    return org, user


def count_everywhere(org, namespace_ids, day):
    from cache_api import metering

    pipe = metering.redis_connection().pipeline(transaction=False)
    for ns_id in namespace_ids:
        metering.queue_counts(pipe, org.id, ns_id, day, requests=10, hits=7, misses=3, bytes_served=7000)
    pipe.execute()


def bench_rollup(namespace_count, rounds):
    from cache_api import metering
    from portal import services
    from portal.models import UsageDaily

    org, _ = fresh_organization("bench-rollup", namespace_count)
    ids = list(org.namespaces.values_list("id", flat=True))
    day = metering.utc_today()
    full, redis_only, idle = [], [], []
    for _ in range(rounds):
        count_everywhere(org, ids, day)
        start = time.perf_counter()
        for ns_id in ids:  # the baseline: the same Redis work without the database
            batch_id, _counts = metering.begin_drain(org.id, ns_id, day)
            metering.finish_drain(org.id, ns_id, day, batch_id)
        redis_only.append(time.perf_counter() - start)

        count_everywhere(org, ids, day)
        start = time.perf_counter()
        result = services.rollup_usage([day], organization_ids=[org.id])
        full.append(time.perf_counter() - start)
        assert result.applied == namespace_count, result

        start = time.perf_counter()
        services.rollup_usage([day], organization_ids=[org.id])
        idle.append(time.perf_counter() - start)
    total = sum(UsageDaily.objects.filter(organization=org).values_list("requests", flat=True))
    assert total == 10 * namespace_count * rounds, total  # only the rollup passes count, none lost or doubled
    med_full, med_redis, med_idle = (statistics.median(v) for v in (full, redis_only, idle))
    print(f"(a) rollup of {namespace_count} namespaces with traffic (1 UTC day), median of {rounds} rounds")

    def line(label, seconds, extra=""):
        per_namespace = seconds / namespace_count * 1e6
        print(f"    {label:<36}: {seconds * 1000:8.1f} ms  ({per_namespace:6.0f} us/namespace){extra}")

    line("baseline, Redis drain+finish only", med_redis)
    line("full rollup (Redis + PostgreSQL)", med_full, f"  = {med_full / med_redis:.1f}x baseline")
    line("idle pass (nothing to fold)", med_idle)
    print(
        f"    rows hold {total} requests = {rounds} rounds x {namespace_count} namespaces x 10: nothing lost or doubled"
    )


def bench_dashboard(rounds):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cache_api import metering
    from portal import figures
    from portal.models import UsageDaily

    org, user = fresh_organization("bench-dashboard", 3)
    today = metering.utc_today()
    namespaces = list(org.namespaces.all())
    UsageDaily.objects.bulk_create(
        [
            UsageDaily(
                organization=org,
                namespace=ns,
                day=today - datetime.timedelta(days=k),
                requests=110,
                hits=80,
                misses=20,
                sets=10,
                bytes_served=80_000,
                bandwidth_saved_bytes=80_000,
                cost_saved_usd=figures.cost_saved(80_000, "0.09"),
            )
            for ns in namespaces
            for k in range(1, 365)
        ]
    )
    count_everywhere(org, [ns.id for ns in namespaces], today)
    client = Client()
    client.force_login(user)
    print(f"(b) dashboard, 3 namespaces x 365 days of rows + today's live counters, median of {rounds * 3} renders")
    results = {}
    for days in (7, 30, 365):
        client.get(f"/portal/dashboard/?days={days}")  # warm templates
    for days in (7, 30, 365):
        timings, queries = [], 0
        for _ in range(rounds * 3):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(f"/portal/dashboard/?days={days}")
                timings.append(time.perf_counter() - start)
            assert response.status_code == 200
            queries = len(captured)
        results[days] = statistics.median(timings)
        print(f"    {days:3d} days: {results[days] * 1000:7.1f} ms, {queries} SQL queries")
    print(f"    365 days cost {results[365] / results[7]:.1f}x the 7-day render (same query count)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    create_database()
    setup_django()
    from django.conf import settings

    print(f"database {settings.DATABASES['default']['NAME']} on PostgreSQL, Redis {REDIS_URL}")
    bench_rollup(args.namespaces, args.rounds)
    bench_dashboard(args.rounds)


if __name__ == "__main__":
    main()
