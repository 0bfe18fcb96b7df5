"""Usage counters per organization, namespace and UTC day: the numbers customers pay on.

Redis layout (hash tag per namespace, so a Redis Cluster keeps a namespace's data
and counters in one slot and they can share a pipeline):

    ac:{o<org>:n<ns>}:m:<YYYYMMDD>            live counters (a hash of COUNTER_FIELDS)
    ac:{o<org>:n<ns>}:m:<YYYYMMDD>:pending    counters being rolled up (renamed atomically)
    ac:{o<org>:n<ns>}:m:pending-days          set of YYYYMMDD with a pending batch (kept by the drain scripts)

Counting happens in the same round trip as the data operation: `queue_counts` adds
HINCRBYs to a caller's pipeline; the cache API's store scripts (cache_api.stores) do the
same HINCRBYs inside their Lua script, because a get's hit or miss is only known there.
The rollup moves counters out with `begin_drain` (atomic RENAME, tagged with a
batch id) and deletes them with `finish_drain` only after the database holds
them, so a crash or a concurrent run never loses or doubles a count. The pending-days
set lets the rollup and readers find a batch stranded on any past day.

Without Redis (embedded default) the same functions work on the embedded store's SQLite
file (cache_api.localdb), where add_in_transaction plays queue_counts' part.
"""

import datetime
import time
import uuid

from django.conf import settings

from cache_api import localdb

COUNTER_FIELDS = (
    "requests",
    "hits",
    "misses",
    "sets",
    "deletes",
    "bytes_served",
    "bytes_written",
    "dedup_bytes_saved",
    "upload_bytes_saved",
    "origin_bytes",
    # Dedup file store: bytes it served (file and chunk GETs; part of bytes_served), and the part of those
    # served on hits of files read through from the origin (egress avoided: they did not leave it again).
    "file_bytes_served",
    "origin_hit_bytes",
)
BATCH_FIELD = "_batch"
# Live counters outlive a missed rollup by far; they are never the long-term record.
COUNTER_TTL_SECONDS = 40 * 86400


_today = (0, None)


def utc_today():
    # Called on every cache request: derive the date at most once per second.
    global _today
    second = int(time.time())
    if _today[0] != second:
        _today = (second, datetime.datetime.fromtimestamp(second, datetime.UTC).date())
    return _today[1]


def namespace_tag(organization_id, namespace_id):
    return f"{{o{organization_id}:n{namespace_id}}}"


def counter_key(organization_id, namespace_id, day):
    return f"ac:{namespace_tag(organization_id, namespace_id)}:m:{_day_stamp(day)}"


_last_stamp = (None, "")


def _day_stamp(day):
    # strftime per request is measurable on the hot path; the day rarely changes.
    global _last_stamp
    if _last_stamp[0] != day:
        _last_stamp = (day, f"{day:%Y%m%d}")
    return _last_stamp[1]


def _validate(fields):
    unknown = set(fields) - set(COUNTER_FIELDS)
    if unknown:
        raise ValueError(f"Unknown counter fields: {sorted(unknown)}")


def _as_counts(raw):
    counts = dict.fromkeys(COUNTER_FIELDS, 0)
    for name, value in (raw or {}).items():
        name = name.decode() if isinstance(name, bytes) else name
        if name in counts:
            counts[name] = int(value)
    return counts


# --- Redis -------------------------------------------------------------------

# KEYS[1] live, KEYS[2] pending, KEYS[3] pending-days index; ARGV[1] new batch id, ARGV[2] day stamp.
# The index is written in the same script as the pending batch, so a batch never exists unindexed.
_BEGIN_DRAIN = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SREM', KEYS[3], ARGV[2])
    return nil
  end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], '_batch', ARGV[1])
  redis.call('PERSIST', KEYS[2])
end
redis.call('SADD', KEYS[3], ARGV[2])
return redis.call('HGETALL', KEYS[2])
"""
# KEYS[1] pending, KEYS[2] pending-days index; ARGV[1] batch id that was applied, ARGV[2] day stamp.
_FINISH_DRAIN = """
if redis.call('HGET', KEYS[1], '_batch') == ARGV[1] then
  redis.call('SREM', KEYS[2], ARGV[2])
  return redis.call('DEL', KEYS[1])
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 0
"""


def pending_days_key(organization_id, namespace_id):
    return f"ac:{namespace_tag(organization_id, namespace_id)}:m:pending-days"


def redis_connection():
    from django_redis import get_redis_connection

    return get_redis_connection(settings.CACHE_API_REDIS_ALIAS)


def queue_counts(pipe, organization_id, namespace_id, day=None, **fields):
    """Add HINCRBYs for non-zero fields to an existing Redis pipeline (no round trip of its own)."""
    key = counter_key(organization_id, namespace_id, day or utc_today())
    for name, amount in fields.items():
        if amount:
            pipe.hincrby(key, name, int(amount))
    pipe.expire(key, COUNTER_TTL_SECONDS)
    return pipe


class RedisCounters:
    def add(self, organization_id, namespace_id, day, fields):
        pipe = redis_connection().pipeline(transaction=False)
        queue_counts(pipe, organization_id, namespace_id, day, **fields)
        pipe.execute()

    def live(self, pairs, day):
        pairs = list(pairs)
        conn = redis_connection()
        # MULTI/EXEC: a drain renaming live -> pending between the two reads would count them twice.
        pipe = conn.pipeline(transaction=True)
        for org_id, ns_id in pairs:
            key = counter_key(org_id, ns_id, day)
            pipe.hgetall(key)
            pipe.hgetall(key + ":pending")  # being rolled up right now: still not in the database
        raw = pipe.execute()
        result = {}
        for index, pair in enumerate(pairs):
            live, pending = _as_counts(raw[2 * index]), _as_counts(raw[2 * index + 1])
            result[pair] = {name: live[name] + pending[name] for name in COUNTER_FIELDS}
        return result

    def begin_drain(self, organization_id, namespace_id, day):
        key = counter_key(organization_id, namespace_id, day)
        index = pending_days_key(organization_id, namespace_id)
        raw = redis_connection().eval(_BEGIN_DRAIN, 3, key, key + ":pending", index, uuid.uuid4().hex, _day_stamp(day))
        if not raw:
            return None
        pairs = dict(zip(raw[::2], raw[1::2], strict=True))
        batch = pairs.pop(b"_batch", pairs.pop(BATCH_FIELD, b"")).decode()
        return batch, _as_counts(pairs)

    def finish_drain(self, organization_id, namespace_id, day, batch_id):
        key = counter_key(organization_id, namespace_id, day) + ":pending"
        index = pending_days_key(organization_id, namespace_id)
        redis_connection().eval(_FINISH_DRAIN, 2, key, index, batch_id, _day_stamp(day))

    def pending_days(self, pairs):
        pairs = list(pairs)
        pipe = redis_connection().pipeline(transaction=False)
        for org_id, ns_id in pairs:
            pipe.smembers(pending_days_key(org_id, ns_id))
        days = {}
        for pair, stamps in zip(pairs, pipe.execute(), strict=True):
            days[pair] = sorted(datetime.datetime.strptime(s.decode(), "%Y%m%d").date() for s in stamps)
        return days

    def pending_batches(self, items):
        items = list(items)
        pipe = redis_connection().pipeline(transaction=False)
        for org_id, ns_id, day in items:
            pipe.hget(counter_key(org_id, ns_id, day) + ":pending", BATCH_FIELD)
        return {item: batch.decode() if batch else None for item, batch in zip(items, pipe.execute(), strict=True)}

    def drop(self, organization_id, namespace_id, batch=500):
        # The namespace tag holds no glob characters, so this pattern matches its counters only.
        pattern = f"ac:{namespace_tag(organization_id, namespace_id)}:m:*"
        conn, dropped, keys = redis_connection(), 0, []
        for key in conn.scan_iter(match=pattern, count=batch):
            keys.append(key)
            if len(keys) >= batch:
                dropped, keys = dropped + conn.unlink(*keys), []
        return dropped + (conn.unlink(*keys) if keys else 0)


# --- Embedded (no Redis) -------------------------------------------------------

_UPSERT = (
    "INSERT INTO counters VALUES (?, ?, ?, 'live', '', ?, ?) ON CONFLICT (org, ns, day, state, field)"
    " DO UPDATE SET amount = amount + excluded.amount"
)


def add_in_transaction(conn, organization_id, namespace_id, day, fields):
    """Add counts inside the caller's SQLite transaction (the embedded twin of queue_counts)."""
    day = day.isoformat()
    conn.executemany(
        _UPSERT, [(organization_id, namespace_id, day, name, int(amount)) for name, amount in fields.items() if amount]
    )


class LocalCounters:
    """Same semantics on the embedded store's SQLite file (single machine only)."""

    def __init__(self, database):
        self.database = database
        self.path = database.path

    def _db(self):
        return self.database.connection()

    def add(self, organization_id, namespace_id, day, fields):
        with self.database.write() as db:
            add_in_transaction(db, organization_id, namespace_id, day, fields)

    def live(self, pairs, day):
        db = self.database.connection()
        result = {}
        for org_id, ns_id in pairs:
            counts = dict.fromkeys(COUNTER_FIELDS, 0)
            for name, amount in db.execute(
                "SELECT field, SUM(amount) FROM counters WHERE org=? AND ns=? AND day=? GROUP BY field",
                (org_id, ns_id, day.isoformat()),
            ):
                counts[name] = int(amount)
            result[(org_id, ns_id)] = counts
        return result

    def begin_drain(self, organization_id, namespace_id, day):
        key = (organization_id, namespace_id, day.isoformat())
        with self.database.write() as db:
            row = db.execute(
                "SELECT batch FROM counters WHERE org=? AND ns=? AND day=? AND state='pending' LIMIT 1", key
            ).fetchone()
            if row is None:
                batch = uuid.uuid4().hex
                db.execute(
                    "UPDATE counters SET state='pending', batch=? WHERE org=? AND ns=? AND day=? AND state='live'",
                    (batch, *key),
                )
            else:
                batch = row[0]
            rows = db.execute(
                "SELECT field, amount FROM counters WHERE org=? AND ns=? AND day=? AND state='pending'", key
            ).fetchall()
        if not rows:
            return None
        return batch, _as_counts(dict(rows))

    def finish_drain(self, organization_id, namespace_id, day, batch_id):
        with self.database.write() as db:
            db.execute(
                "DELETE FROM counters WHERE org=? AND ns=? AND day=? AND state='pending' AND batch=?",
                (organization_id, namespace_id, day.isoformat(), batch_id),
            )

    def pending_days(self, pairs):
        db = self._db()
        return {
            (org_id, ns_id): [
                datetime.date.fromisoformat(day)
                for (day,) in db.execute(
                    "SELECT DISTINCT day FROM counters WHERE org=? AND ns=? AND state='pending' ORDER BY day",
                    (org_id, ns_id),
                )
            ]
            for org_id, ns_id in pairs
        }

    def pending_batches(self, items):
        db = self._db()
        result = {}
        for org_id, ns_id, day in items:
            row = db.execute(
                "SELECT batch FROM counters WHERE org=? AND ns=? AND day=? AND state='pending' LIMIT 1",
                (org_id, ns_id, day.isoformat()),
            ).fetchone()
            result[(org_id, ns_id, day)] = row[0] if row else None
        return result

    def drop(self, organization_id, namespace_id):
        with self.database.write() as db:
            return db.execute("DELETE FROM counters WHERE org=? AND ns=?", (organization_id, namespace_id)).rowcount


def backend():
    if settings.REDIS_URL:
        return RedisCounters()
    return LocalCounters(localdb.database())


# --- Public interface ------------------------------------------------------------


def add_counts(organization_id, namespace_id, day=None, **fields):
    """Count outside a data pipeline (file API, evaluator): one round trip."""
    _validate(fields)
    backend().add(organization_id, namespace_id, day or utc_today(), fields)


def live_counts(organization_id, namespace_id, day=None):
    """Counts not yet in UsageDaily for one namespace and day (live + being rolled up)."""
    day = day or utc_today()
    return backend().live([(organization_id, namespace_id)], day)[(organization_id, namespace_id)]


def live_counts_many(pairs, day=None):
    """{(org_id, ns_id): counts} for many namespaces in one round trip."""
    return backend().live(pairs, day or utc_today())


def begin_drain(organization_id, namespace_id, day):
    """Move the day's live counters aside atomically. Returns (batch_id, counts) or None if nothing to roll up.

    If an earlier drain was interrupted, returns that same batch again (same id), so it is
    applied at most once: the caller records batch_id with the counts in one transaction.
    """
    return backend().begin_drain(organization_id, namespace_id, day)


def finish_drain(organization_id, namespace_id, day, batch_id):
    """Forget a drained batch once the database holds it."""
    backend().finish_drain(organization_id, namespace_id, day, batch_id)


def pending_days_many(pairs):
    """{(org_id, ns_id): [days with a pending batch]}: batches a crashed run left on any day, however old."""
    return backend().pending_days(pairs)


def pending_batches(items):
    """{(org_id, ns_id, day): pending batch id or None} for (org_id, ns_id, day) items."""
    return backend().pending_batches(items)


def drop_namespace_counters(organization_id, namespace_id):
    """Forget a deleted namespace's live and pending counters: the rollup only visits namespaces that
    exist, so nothing else would ever remove them (a pending batch has no TTL)."""
    return backend().drop(organization_id, namespace_id)


def live_and_pending_many(pairs, day=None):
    """{(org_id, ns_id): (live counts, pending batch id or None, pending counts)} in one round trip.

    For readers that add live counters to UsageDaily (portal): a pending batch may already be in
    the database (applied, not yet finished), so they need it apart from the live counts.
    """
    day = day or utc_today()
    return live_and_pending_days(pairs, [day])[day]


def _pending_parts(raw):
    raw = raw or {}
    batch = raw.get(b"_batch", raw.get(BATCH_FIELD))
    batch = batch.decode() if isinstance(batch, bytes) else batch
    return batch or None, _as_counts(raw)


def live_and_pending_days(pairs, days):
    """{day: live_and_pending_many(pairs, day)} for several days, read atomically in one round trip.

    Redis reads in MULTI/EXEC: a drain renaming live -> pending between the two reads of a
    namespace-day would otherwise show its counts twice.
    """
    pairs, days = list(pairs), list(days)
    store = backend()
    result = {day: {} for day in days}
    if isinstance(store, RedisCounters):
        pipe = redis_connection().pipeline(transaction=True)
        for day in days:
            for org_id, ns_id in pairs:
                key = counter_key(org_id, ns_id, day)
                pipe.hgetall(key)
                pipe.hgetall(key + ":pending")
        raw = iter(pipe.execute()) if pairs and days else iter(())
        for day in days:
            for pair in pairs:
                live, (batch, pending) = _as_counts(next(raw)), _pending_parts(next(raw))
                result[day][pair] = (live, batch, pending)
        return result
    db = store.database.connection()
    for day in days:
        for org_id, ns_id in pairs:
            live, pending, batch = {}, {}, None
            # One statement: a drain's UPDATE of the state is seen entirely or not at all.
            for state, batch_id, name, amount in db.execute(
                "SELECT state, batch, field, amount FROM counters WHERE org=? AND ns=? AND day=?",
                (org_id, ns_id, day.isoformat()),
            ):
                if state == "pending":
                    pending[name], batch = amount, batch_id
                else:
                    live[name] = amount
            result[day][(org_id, ns_id)] = (_as_counts(live), batch, _as_counts(pending))
    return result
