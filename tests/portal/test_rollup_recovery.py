"""Counts survive a rollup that dies on a day's last run, beat being down for days, pruning, and reads
racing a drain: every request is in UsageDaily or in the readers' live part exactly once."""

import datetime

import pytest

from cache_api import metering
from portal import pricing, selectors, services
from portal.models import AppliedUsageBatch, UsageDaily

D = datetime.date(2026, 11, 10)


def at(day, hour=12, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=datetime.UTC)


def after(days):
    return D + datetime.timedelta(days=days)


def stored_requests(namespace, day):
    row = UsageDaily.objects.filter(namespace=namespace, day=day).first()
    return row.requests if row else 0


def shown(organization, start, end, today):
    """Requests per day as the dashboard shows them (rows plus live counters)."""
    per_day = selectors.usage(organization, start, end, today=today).per_day()
    return {row["date"]: row["requests"] for row in per_day if row["requests"]}


@pytest.fixture
def cdn(organization):
    return organization.namespaces.get(name="cdn")


def die(*args, **kwargs):
    raise RuntimeError("worker killed between drain and commit")


def test_last_run_of_the_day_dies_after_draining_and_nothing_runs_the_next_day(organization, cdn, monkeypatch):
    services.rollup_usage(now=at(D, 0, 5))  # a complete run early on D
    metering.add_counts(organization.id, cdn.id, D, requests=7, hits=7)
    real_apply = services.apply_batches
    monkeypatch.setattr(services, "apply_batches", die)
    with pytest.raises(RuntimeError):
        services.rollup_usage(now=at(D, 23, 58))  # the day's last run: D drained into a pending batch, then killed
    monkeypatch.setattr(services, "apply_batches", real_apply)
    # Beat and the workers are down for all of D+1. On D+2, readers still see D's requests...
    assert shown(organization, D, after(2), today=after(2)) == {D: 7}

    result = services.rollup_usage(now=at(after(2), 0, 5))  # ...and the first run on D+2 folds them in
    assert result.applied == 1 and result.requests == 7
    assert stored_requests(cdn, D) == 7
    assert metering.pending_days_many([(organization.id, cdn.id)]) == {(organization.id, cdn.id): []}
    assert shown(organization, D, after(2), today=after(2)) == {D: 7}


def test_stranded_batch_on_an_old_day_is_shown_and_applied(organization, cdn):
    services._mark_complete(after(5))  # every run up to D+6 completed...
    metering.add_counts(organization.id, cdn.id, D, requests=4, misses=4)
    metering.begin_drain(organization.id, cdn.id, D)  # ...except a manual one for D that died after draining
    assert shown(organization, D, after(6), today=after(6)) == {D: 4}

    result = services.rollup_usage(now=at(after(6)))
    assert result.days == [after(5).isoformat(), after(6).isoformat()] and result.stranded_days == {D}
    assert stored_requests(cdn, D) == 4
    assert shown(organization, D, after(6), today=after(6)) == {D: 4}
    assert services.rollup_usage(now=at(after(6))).applied == 0


def test_beat_down_for_three_days_loses_nothing(organization, cdn):
    services.rollup_usage(now=at(D, 0, 5))  # the last run before beat stops
    for offset, n in ((0, 3), (1, 5), (2, 11), (3, 2)):
        metering.add_counts(organization.id, cdn.id, after(offset), requests=n, hits=n)
    expected = {D: 3, after(1): 5, after(2): 11, after(3): 2}
    # D+3: beat has been down since early on D; the dashboard shows every day's requests meanwhile.
    assert shown(organization, D, after(3), today=after(3)) == expected

    result = services.rollup_usage(now=at(after(3), 9))
    assert result.days == [day.isoformat() for day in expected]
    assert {day: stored_requests(cdn, day) for day in expected} == expected
    assert services.last_complete_day() == after(2)
    assert shown(organization, D, after(3), today=after(3)) == expected
    assert services.rollup_usage(now=at(after(3), 9, 5)).days == [after(2).isoformat(), after(3).isoformat()]


def test_default_run_never_looks_past_the_counters_ttl(organization):
    services._mark_complete(D - datetime.timedelta(days=400))
    days = services.default_rollup_days(at(D), last_complete=services.last_complete_day())
    assert days[0] == D - datetime.timedelta(days=services.LOOKBACK_DAYS) and days[-1] == D


def test_pruning_never_lets_a_stranded_applied_batch_apply_twice(organization, cdn):
    now = at(D)
    old = D - datetime.timedelta(days=services.APPLIED_BATCH_RETENTION_DAYS + 5)
    metering.add_counts(organization.id, cdn.id, old, requests=6, hits=6)
    batch_id, drained = metering.begin_drain(organization.id, cdn.id, old)
    assert services.apply_batch(cdn, old, batch_id, drained, pricing.DEFAULT_EGRESS)  # committed; finish never ran

    services.prune_applied_batches(now=now)
    services.rollup_usage(days=[old])
    assert stored_requests(cdn, old) == 6
    assert metering.begin_drain(organization.id, cdn.id, old) is None


def test_pruning_keeps_the_record_while_the_pending_batch_exists(organization, cdn, monkeypatch):
    old = D - datetime.timedelta(days=services.APPLIED_BATCH_RETENTION_DAYS + 5)
    metering.add_counts(organization.id, cdn.id, old, requests=6, hits=6)
    batch_id, drained = metering.begin_drain(organization.id, cdn.id, old)
    services.apply_batch(cdn, old, batch_id, drained, pricing.DEFAULT_EGRESS)
    monkeypatch.setattr(metering, "finish_drain", lambda *args: None)  # the counter store refuses the delete

    services.prune_applied_batches(now=at(D))
    assert AppliedUsageBatch.objects.filter(batch_id=batch_id).exists()
    monkeypatch.undo()
    services.rollup_usage(days=[old])
    assert stored_requests(cdn, old) == 6


# --- Readers against a drain running between their reads (Redis) ------------------------


class _InterleavedPipeline:
    """A non-transactional pipeline promises no atomicity: another client's commands may run between
    any two of its commands. This one runs `between` right after each HGETALL, so that
    interleaving happens every time; a MULTI/EXEC pipeline is atomic, so `between` runs after it."""

    def __init__(self, conn, transaction, between):
        self._conn, self._transaction, self._between, self._commands = conn, transaction, between, []

    def __getattr__(self, name):
        def queue(*args, **kwargs):
            self._commands.append((name, args, kwargs))
            return self

        return queue

    def execute(self):
        if self._transaction:
            pipe = self._conn.pipeline(transaction=True)
            for name, args, kwargs in self._commands:
                getattr(pipe, name)(*args, **kwargs)
            replies = pipe.execute()
            self._between()
            return replies
        replies = []
        for name, args, kwargs in self._commands:
            replies.append(getattr(self._conn, name)(*args, **kwargs))
            if name == "hgetall":
                self._between()
        return replies


class _Connection:
    def __init__(self, real, between):
        self._real, self._between = real, between

    def pipeline(self, transaction=True):
        return _InterleavedPipeline(self._real, transaction, self._between)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def drain_between_reads(organization, cdn, monkeypatch, redis_client):
    """Installs a rollup drain of (cdn, D) that fires once, between two reads of a pipeline."""
    fired = []

    def drain():
        if not fired:
            fired.append(metering.begin_drain(organization.id, cdn.id, D))

    monkeypatch.setattr(metering, "redis_connection", lambda: _Connection(redis_client, drain))
    return fired


@pytest.mark.services
def test_live_counts_are_read_atomically_against_a_drain(organization, cdn, drain_between_reads):
    metering.add_counts(organization.id, cdn.id, D, requests=5, hits=5)
    assert metering.live_counts(organization.id, cdn.id, D)["requests"] == 5
    assert drain_between_reads, "the drain did not run"
    assert metering.begin_drain(organization.id, cdn.id, D)[1]["requests"] == 5


@pytest.mark.services
def test_readers_never_count_a_batch_being_drained_twice(organization, cdn, drain_between_reads):
    metering.add_counts(organization.id, cdn.id, D, requests=5, hits=5)
    pair = (organization.id, cdn.id)
    live, batch, pending = metering.live_and_pending_many([pair], D)[pair]
    assert live["requests"] + pending["requests"] == 5
    drain_between_reads.clear()
    metering.add_counts(organization.id, cdn.id, D, requests=1, misses=1)  # a new live hash beside the pending one
    assert selectors.usage(organization, D, D, today=D).totals()["requests"] == 6
