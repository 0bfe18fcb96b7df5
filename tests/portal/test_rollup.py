"""Rollup exactness: the counters move into UsageDaily once, whatever crashes or runs twice."""

import datetime
import threading
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from cache_api import metering
from portal import figures, pricing, selectors, services
from portal.models import AppliedUsageBatch, UsageDaily
from tests.factories import ApiKeyFactory

DAY = datetime.date(2026, 11, 24)


def counts(**fields):
    return {name: fields.get(name, 0) for name in metering.COUNTER_FIELDS}


def stored(namespace, day):
    row = UsageDaily.objects.filter(namespace=namespace, day=day).first()
    return counts(**{name: getattr(row, name) for name in metering.COUNTER_FIELDS}) if row else counts()


@pytest.fixture
def cdn(organization):
    return organization.namespaces.get(name="cdn")


@pytest.fixture
def storage(organization):
    return organization.namespaces.get(name="storage")


def test_rollup_moves_counts_into_the_day_row_and_empties_the_counters(organization, cdn, storage):
    metering.add_counts(organization.id, cdn.id, DAY, requests=7, hits=5, misses=2, bytes_served=5000)
    metering.add_counts(organization.id, storage.id, DAY, requests=3, sets=3, bytes_written=300, upload_bytes_saved=900)

    result = services.rollup_usage([DAY])

    assert (result.applied, result.requests, result.namespaces) == (2, 10, 2)
    assert stored(cdn, DAY) == counts(requests=7, hits=5, misses=2, bytes_served=5000)
    assert stored(storage, DAY) == counts(requests=3, sets=3, bytes_written=300, upload_bytes_saved=900)
    row = UsageDaily.objects.get(namespace=storage, day=DAY)
    assert row.organization_id == organization.id
    assert row.bandwidth_saved_bytes == 900
    assert row.cost_saved_usd == figures.cost_saved(900, pricing.DEFAULT_EGRESS.usd_per_gb)
    assert metering.live_counts(organization.id, cdn.id, DAY) == counts()


def test_second_run_adds_only_what_was_counted_since(organization, cdn):
    metering.add_counts(organization.id, cdn.id, DAY, requests=4, hits=4, bytes_served=40)
    services.rollup_usage([DAY])
    assert services.rollup_usage([DAY]).applied == 0  # nothing new: no change
    metering.add_counts(organization.id, cdn.id, DAY, requests=1, misses=1)
    services.rollup_usage([DAY])
    assert stored(cdn, DAY) == counts(requests=5, hits=4, misses=1, bytes_served=40)


def test_worker_killed_after_draining_loses_nothing(organization, cdn):
    """A run that died after the rename left a pending batch; the next run applies it once, then the new counts."""
    metering.add_counts(organization.id, cdn.id, DAY, requests=10, hits=10)
    batch_id, drained = metering.begin_drain(organization.id, cdn.id, DAY)  # ...and the worker dies here
    metering.add_counts(organization.id, cdn.id, DAY, requests=1, misses=1)  # traffic goes on

    first = services.rollup_usage([DAY])
    assert first.applied == 1 and first.requests == 10
    assert AppliedUsageBatch.objects.filter(batch_id=batch_id).exists()
    services.rollup_usage([DAY])
    assert stored(cdn, DAY) == counts(requests=11, hits=10, misses=1)
    assert metering.live_counts(organization.id, cdn.id, DAY) == counts()


def test_worker_killed_after_commit_before_finish_does_not_double(organization, cdn):
    metering.add_counts(organization.id, cdn.id, DAY, requests=6, hits=6, bytes_served=600)
    batch_id, drained = metering.begin_drain(organization.id, cdn.id, DAY)
    assert services.apply_batch(cdn, DAY, batch_id, drained, pricing.DEFAULT_EGRESS)  # committed; finish never ran

    # Readers meanwhile see the batch once, not twice (it is in the row and still pending in the counters).
    view = selectors.usage(organization, DAY, DAY, today=DAY)
    assert view.totals()["requests"] == 6

    rerun = services.rollup_usage([DAY])
    assert (rerun.applied, rerun.already_applied) == (0, 1)
    assert stored(cdn, DAY) == counts(requests=6, hits=6, bytes_served=600)
    assert metering.begin_drain(organization.id, cdn.id, DAY) is None  # the re-run finished the batch


def test_crash_inside_the_transaction_applies_nothing_and_the_next_run_everything(
    organization, cdn, storage, monkeypatch
):
    metering.add_counts(organization.id, cdn.id, DAY, requests=3, hits=3)
    metering.add_counts(organization.id, storage.id, DAY, requests=4, sets=4)
    real_update_rows = services._update_rows

    def die(*args, **kwargs):
        raise RuntimeError("worker killed mid-transaction")

    monkeypatch.setattr(services, "_update_rows", die)
    with pytest.raises(RuntimeError):
        services.rollup_usage([DAY])
    assert not AppliedUsageBatch.objects.exists() and stored(cdn, DAY) == counts()
    # Readers still see every count: it sits in the pending batches.
    assert selectors.usage(organization, DAY, DAY, today=DAY).totals()["requests"] == 7

    monkeypatch.setattr(services, "_update_rows", real_update_rows)
    assert services.rollup_usage([DAY]).applied == 2
    assert stored(cdn, DAY)["requests"] + stored(storage, DAY)["requests"] == 7


def test_small_chunks_give_the_same_result(organization, cdn, storage, other_organization):
    rival = other_organization.namespaces.get()
    for ns in (cdn, storage, rival):
        metering.add_counts(ns.organization_id, ns.id, DAY, requests=ns.id + 1)
        metering.add_counts(ns.organization_id, ns.id, DAY - datetime.timedelta(days=1), requests=2)
    result = services.rollup_usage([DAY - datetime.timedelta(days=1), DAY], chunk_size=1)
    assert result.applied == 6 and result.namespaces == 3
    for ns in (cdn, storage, rival):
        assert stored(ns, DAY)["requests"] == ns.id + 1
        assert stored(ns, DAY - datetime.timedelta(days=1))["requests"] == 2


def test_applying_the_same_batch_twice_is_a_no_op(organization, cdn):
    metering.add_counts(organization.id, cdn.id, DAY, requests=2, hits=2)
    batch_id, drained = metering.begin_drain(organization.id, cdn.id, DAY)
    assert services.apply_batch(cdn, DAY, batch_id, drained, pricing.DEFAULT_EGRESS) is True
    assert services.apply_batch(cdn, DAY, batch_id, drained, pricing.DEFAULT_EGRESS) is False
    assert stored(cdn, DAY)["requests"] == 2


def test_day_boundaries_are_utc(organization, cdn):
    """At 00:00:30 UTC the run folds yesterday's late counts into yesterday's row and today's into today's."""
    before_midnight, after_midnight = datetime.date(2026, 11, 23), datetime.date(2026, 11, 24)
    metering.add_counts(organization.id, cdn.id, before_midnight, requests=3, hits=3)
    metering.add_counts(organization.id, cdn.id, after_midnight, requests=2, misses=2)
    # 19:00:30 in New York on the 23rd is 00:00:30 UTC on the 24th.
    now = datetime.datetime(2026, 11, 23, 19, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    days = services.default_rollup_days(now)
    assert days == [before_midnight, after_midnight]

    services.rollup_usage(days)
    assert stored(cdn, before_midnight) == counts(requests=3, hits=3)
    assert stored(cdn, after_midnight) == counts(requests=2, misses=2)


def test_rollup_only_touches_namespaces_in_the_database(organization, cdn, other_organization):
    rival_ns = other_organization.namespaces.get()
    metering.add_counts(other_organization.id, rival_ns.id, DAY, requests=9)
    services.rollup_usage([DAY], organization_ids=[organization.id])
    assert not UsageDaily.objects.filter(namespace=rival_ns).exists()
    services.rollup_usage([DAY])
    assert stored(rival_ns, DAY)["requests"] == 9
    assert UsageDaily.objects.get(namespace=rival_ns).organization_id == other_organization.id


def test_management_command(organization, cdn, capsys):
    metering.add_counts(organization.id, cdn.id, DAY, requests=5, hits=1, misses=4)
    call_command("rollup_usage", "--date", DAY.isoformat())
    assert "1 batches applied (5 requests)" in capsys.readouterr().out
    assert stored(cdn, DAY) == counts(requests=5, hits=1, misses=4)


def test_usage_days_selector_is_sorted_and_scoped(organization, cdn, other_organization):
    for offset, n in ((2, 20), (0, 5), (1, 10)):
        metering.add_counts(organization.id, cdn.id, DAY - datetime.timedelta(days=offset), requests=n, hits=n)
    services.rollup_usage([DAY - datetime.timedelta(days=k) for k in range(3)])

    days = selectors.usage_days(organization.id, cdn.id, DAY - datetime.timedelta(days=1), DAY)
    assert [d["date"] for d in days] == ["2026-11-23", "2026-11-24"]
    assert days[0] == {
        "date": "2026-11-23",
        "requests": 10,
        "hits": 10,
        "misses": 0,
        "bytes_served": 0,
        "bytes_written": 0,
    }
    assert selectors.usage_days(other_organization.id, cdn.id, DAY - datetime.timedelta(days=5), DAY) == []


def test_reader_racing_a_rollup_counts_every_request_once(organization, cdn, monkeypatch):
    """A rollup that applies and finishes a batch between the reader's database and Redis reads is detected."""
    metering.add_counts(organization.id, cdn.id, DAY, requests=8, hits=8)
    real = metering.live_and_pending_days
    calls = []

    def rollup_in_between(pairs, days):
        if not calls:
            services.rollup_usage([DAY])  # rows were already read: without the re-read these 8 would vanish
        calls.append(days)
        return real(pairs, days)

    monkeypatch.setattr(metering, "live_and_pending_days", rollup_in_between)
    view = selectors.usage(organization, DAY, DAY, today=DAY)
    assert view.totals()["requests"] == 8
    assert view.consistent and len(calls) == 2


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_exact_under_concurrent_writes_and_concurrent_rollups(organization, cdn, storage):
    """4 writers count while 2 rollup loops run at once: stored + live equals exactly what was counted."""
    namespaces = [cdn, storage]
    writers, per_writer = 4, 300
    done = threading.Event()
    errors = []

    def write(index):
        try:
            for i in range(per_writer):
                ns = namespaces[(index + i) % 2]
                metering.add_counts(organization.id, ns.id, DAY, requests=1, hits=i % 2, misses=1 - i % 2)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    def roll():
        from django.db import connection

        try:
            while not done.is_set():
                services.rollup_usage([DAY])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    rollers = [threading.Thread(target=roll) for _ in range(2)]
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for thread in rollers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in rollers:
        thread.join()
    assert errors == []

    expected = writers * per_writer
    view = selectors.usage(organization, DAY, DAY, today=DAY)  # rows + whatever the last loop left live
    assert view.totals()["requests"] == expected
    assert view.totals()["hits"] + view.totals()["misses"] == expected
    services.rollup_usage([DAY])
    total = sum(stored(ns, DAY)["requests"] for ns in namespaces)
    assert total == expected
    assert AppliedUsageBatch.objects.filter(day=DAY).count() >= 2


def test_requests_a_fifth_of_a_second_apart_across_utc_midnight_land_on_their_own_days(
    api_client, organization, cdn, monkeypatch
):
    """Counted through the real cache API at 23:59:59.9 and 00:00:00.1 UTC (the metering clock injected)."""
    key = ApiKeyFactory(organization=organization)
    midnight = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)
    clock = [midnight.timestamp() - 0.1]
    monkeypatch.setattr(metering, "time", SimpleNamespace(time=lambda: clock[0]))

    def call(op, body):
        response = api_client.post(
            f"/api/cache/{op}", body, format="json", HTTP_X_API_KEY=key.plaintext, HTTP_X_NAMESPACE="cdn"
        )
        assert response.status_code == 200, response.content

    call("set", {"key": "k", "value": "v"})  # 23:59:59.9 on the 23rd
    clock[0] = midnight.timestamp() + 0.1
    call("get", {"key": "k"})  # 00:00:00.1 on the 24th: a hit
    before, after = datetime.date(2026, 11, 23), datetime.date(2026, 11, 24)

    def per_day():
        rows = selectors.usage(organization, before, after, today=after).per_day()
        return {row["date"]: (row["requests"], row["sets"], row["hits"]) for row in rows}

    assert per_day() == {before: (1, 1, 0), after: (1, 0, 1)}  # live counters, before any rollup
    services.rollup_usage(now=midnight + datetime.timedelta(seconds=30))
    assert stored(cdn, before) == counts(requests=1, sets=1, bytes_written=stored(cdn, before)["bytes_written"])
    assert (stored(cdn, after)["requests"], stored(cdn, after)["hits"], stored(cdn, after)["sets"]) == (1, 1, 0)
    assert metering.live_counts(organization.id, cdn.id, before) == counts()
    assert per_day() == {before: (1, 1, 0), after: (1, 0, 1)}  # now from the rows
