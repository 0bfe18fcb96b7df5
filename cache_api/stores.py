"""The two stores behind the cache API: Redis (production) and SQLite (embedded default).

Both expose the same small interface. Every data operation is one atomic unit that
also (1) checks the caller's auth version token, (2) counts the request against the
plan's per-second limit of the namespace and (3) adds the usage counters:

- Redis: one EVALSHA (one round trip) per request; the script refuses with STALE if
  the namespace's auth version moved since the caller's auth cache entry was made,
  or LIMITED if the second's budget is spent, before touching any data. Every key a
  script touches has the namespace's hash tag (cache_api.keyspace): one Cluster slot.
- SQLite: one `BEGIN IMMEDIATE` transaction doing the same steps.

Values are stored as the JSON bytes of the value, so a hit is spliced into the
response without decoding it.
"""

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import NoScriptError, RedisError

from cache_api import keyspace, localdb, metering

log = logging.getLogger(__name__)

# authcache never uses a shared copy loaded more than its MAX_AGE_SECONDS (60) ago: no point keeping one longer.
SHARED_AUTH_TTL_SECONDS = 60
# Expired rows of the embedded store are swept every this many writes (reads skip them anyway).
LOCAL_SWEEP_EVERY = 500

STALE = -1
LIMITED = -2


class StoreUnavailable(Exception):
    """The store cannot be reached (Redis down, SQLite file locked for too long)."""


class StaleAuth(Exception):
    """The organization's auth version changed: re-resolve the key before trying again."""


class RateLimited(Exception):
    def __init__(self, retry_after):
        super().__init__("rate limited")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Scope:
    """Who is asking, as the store needs it: plain ids, the namespace's auth token and the per-second limit.

    Built once per auth cache entry, so the fixed parts of its Redis key names are too.
    """

    organization_id: int
    namespace_id: int
    token: str
    requests_per_second: int | None

    def __post_init__(self):
        org, ns = self.organization_id, self.namespace_id
        set_fixed = object.__setattr__  # frozen dataclass: derived fields are set once, here
        set_fixed(self, "auth_version_key", keyspace.auth_version_key(org, ns))
        set_fixed(self, "rate_key_prefix", keyspace.rate_key(org, ns, ""))
        set_fixed(self, "value_prefix", keyspace.value_key_prefix(org, ns))
        set_fixed(self, "script_args", (self.token or "", self.requests_per_second or 0, metering.COUNTER_TTL_SECONDS))


# --- Redis ---------------------------------------------------------------------------

# KEYS[1] auth version, KEYS[2] this second's rate counter, KEYS[3] usage counters, KEYS[4..] values:
# all of one namespace, so all in one Redis Cluster slot.
# ARGV[1] expected auth token, ARGV[2] limit per second (0 = none), ARGV[3] counter TTL.
_PRELUDE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local used = redis.call('INCR', KEYS[2])
  if used == 1 then redis.call('EXPIRE', KEYS[2], 2) end
  if used > limit then return {-2} end
end
local function meter(requests, field, amount, bytes_field, bytes)
  if redis.call('HINCRBY', KEYS[3], 'requests', requests) == requests then
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
  redis.call('HINCRBY', KEYS[3], field, amount)
  if bytes > 0 then redis.call('HINCRBY', KEYS[3], bytes_field, bytes) end
end
"""

_GET = (
    _PRELUDE
    + """
local value = redis.call('GET', KEYS[4])
if value then
  local ms = redis.call('PTTL', KEYS[4])
  meter(1, 'hits', 1, 'bytes_served', #value)
  return {1, value, ms}
end
meter(1, 'misses', 1, 'bytes_served', 0)
return {0}
"""
)

_MGET = (
    _PRELUDE
    + """
local values = redis.call('MGET', unpack(KEYS, 4))
local ttls = {}
local hits, bytes = 0, 0
for i = 1, #values do
  if values[i] then
    hits = hits + 1
    bytes = bytes + #values[i]
    ttls[i] = redis.call('PTTL', KEYS[i + 3])
  else
    ttls[i] = 0
  end
end
local n = #values
if n > 0 then
  if redis.call('HINCRBY', KEYS[3], 'requests', n) == n then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
  if hits > 0 then redis.call('HINCRBY', KEYS[3], 'hits', hits) end
  if n > hits then redis.call('HINCRBY', KEYS[3], 'misses', n - hits) end
  if bytes > 0 then redis.call('HINCRBY', KEYS[3], 'bytes_served', bytes) end
end
return {1, values, ttls}
"""
)

# ARGV[4 + 2(i-1)] ttl of item i, ARGV[5 + 2(i-1)] its value.
_MSET = (
    _PRELUDE
    + """
local n = #KEYS - 3
local bytes = 0
for i = 1, n do
  local value = ARGV[3 + 2 * i]
  redis.call('SET', KEYS[3 + i], value, 'EX', ARGV[2 + 2 * i])
  bytes = bytes + #value
end
meter(n, 'sets', n, 'bytes_written', bytes)
return {1}
"""
)

_DELETE = (
    _PRELUDE
    + """
local deleted = redis.call('DEL', KEYS[4])
meter(1, 'deletes', 1, 'bytes_written', 0)
return {1, deleted}
"""
)


# Stats: the token check and the rate count only (a stats read is not metered).
_ADMIT = _PRELUDE + "return {1}\n"


class _Script:
    def __init__(self, source):
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source).hexdigest()

    def run(self, client, keys, args):
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # Redis restarted or SCRIPT FLUSH: EVAL loads it again
            return client.eval(self.source, len(keys), *keys, *args)


_SCRIPTS = {
    name: _Script(source)
    for name, source in (("get", _GET), ("mget", _MGET), ("mset", _MSET), ("delete", _DELETE), ("admit", _ADMIT))
}


class RedisStore:
    name = "redis"

    def __init__(self, alias):
        self.alias = alias
        self._client = None

    def client(self):
        if self._client is None:
            from django_redis import get_redis_connection

            self._client = get_redis_connection(self.alias)
        return self._client

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except RedisError as exc:
            log.warning("cache store unavailable: %s: %s", type(exc).__name__, exc)
            raise StoreUnavailable(str(exc)) from exc

    def _run(self, script, scope, data_keys, extra_args=()):
        keys = [
            scope.auth_version_key,
            f"{scope.rate_key_prefix}{int(time.time())}",
            metering.counter_key(scope.organization_id, scope.namespace_id, metering.utc_today()),
            *data_keys,
        ]
        reply = self._call(_SCRIPTS[script].run, self.client(), keys, (*scope.script_args, *extra_args))
        status = reply[0]
        if status == STALE:
            raise StaleAuth()
        if status == LIMITED:
            raise RateLimited(retry_after=1)
        return reply

    @staticmethod
    def _data_key(scope, key):
        return scope.value_prefix + key

    def get(self, scope, key):
        reply = self._run("get", scope, [self._data_key(scope, key)])
        if reply[0] == 0:
            return None
        return reply[1], keyspace.seconds_remaining(reply[2])

    def mget(self, scope, keys):
        prefix = scope.value_prefix
        reply = self._run("mget", scope, [prefix + key for key in keys])
        values, ttls = reply[1], reply[2]
        return [
            None if value is None else (value, keyspace.seconds_remaining(ttl))
            for value, ttl in zip(values, ttls, strict=True)
        ]

    def mset(self, scope, items):
        """items: [(key bytes, value bytes, ttl)]; all written atomically."""
        prefix = scope.value_prefix
        args = []
        for _, value, ttl in items:
            args += (ttl, value)
        self._run("mset", scope, [prefix + key for key, _, _ in items], args)

    def delete(self, scope, key):
        reply = self._run("delete", scope, [self._data_key(scope, key)])
        return bool(reply[1])

    def admit(self, scope):
        """Token check and rate count without a data operation or metering (GET /api/cache/stats)."""
        self._run("admit", scope, [])

    def drop_namespace(self, organization_id, namespace_id, batch=500):
        """Delete every value of a namespace (SCAN of its own prefix, UNLINK in batches). Returns the count."""
        pattern = keyspace.value_key_prefix(organization_id, namespace_id) + b"*"  # no glob characters in it

        def drop():
            client, dropped, pending = self.client(), 0, []
            for key in client.scan_iter(match=pattern, count=batch):
                pending.append(key)
                if len(pending) >= batch:
                    dropped += client.unlink(*pending)
                    pending = []
            if pending:
                dropped += client.unlink(*pending)
            # Its token too (not counted): a missing token only ever answers STALE.
            client.unlink(keyspace.auth_version_key(organization_id, namespace_id))
            return dropped

        return self._call(drop)

    # Auth versions and the shared auth cache (see cache_api.authcache).

    def auth_token(self, organization_id, namespace_id=None):
        token = self._call(self.client().get, keyspace.auth_version_key(organization_id, namespace_id))
        return token.decode() if token is not None else None

    def ensure_auth_token(self, organization_id, namespace_id=None):
        key = keyspace.auth_version_key(organization_id, namespace_id)

        def ensure():
            pipe = self.client().pipeline(transaction=False)
            pipe.set(key, uuid.uuid4().hex, nx=True)
            pipe.get(key)
            return pipe.execute()[1]

        return self._call(ensure).decode()

    def bump_auth_tokens(self, organization_id, namespace_ids=()):
        """New tokens for the organization (namespace-less resolutions) and the given namespaces.

        One pipeline of single-key SETs (a cluster client splits it by slot), not an MSET across slots.
        """

        def bump():
            pipe = self.client().pipeline(transaction=False)
            for namespace_id in (None, *namespace_ids):
                pipe.set(keyspace.auth_version_key(organization_id, namespace_id), uuid.uuid4().hex)
            pipe.execute()

        self._call(bump)

    def shared_get(self, digest, namespace_name):
        return self._call(self.client().hget, keyspace.shared_auth_key(digest), namespace_name or "")

    def shared_put(self, digest, namespace_name, payload):
        def put():
            key = keyspace.shared_auth_key(digest)
            pipe = self.client().pipeline(transaction=False)
            pipe.hset(key, namespace_name or "", payload)
            pipe.expire(key, SHARED_AUTH_TTL_SECONDS)
            pipe.execute()

        self._call(put)

    def shared_forget(self, digest, namespace_name):
        self._call(self.client().hdel, keyspace.shared_auth_key(digest), namespace_name or "")


# --- Embedded (SQLite) ----------------------------------------------------------------


class LocalStore:
    name = "local"

    def __init__(self, database):
        self.database = database
        self._writes = 0

    def _transaction(self, scope, work):
        """Run work(db, now) after the same auth and rate checks as the Redis prelude, in one transaction."""
        import sqlite3

        org, ns = scope.organization_id, scope.namespace_id
        try:
            with self.database.write() as db:
                row = db.execute("SELECT token FROM auth_tokens WHERE org=? AND ns=?", (org, ns)).fetchone()
                if row is None or row[0] != scope.token:
                    raise StaleAuth()
                now = time.time()
                if scope.requests_per_second:
                    second = int(now)
                    used = db.execute(
                        "INSERT INTO namespace_rate VALUES (?, ?, ?, 1) ON CONFLICT (org, ns) DO UPDATE SET"
                        " used = CASE WHEN second = excluded.second THEN used + 1 ELSE 1 END, second = excluded.second"
                        " RETURNING used",
                        (org, ns, second),
                    ).fetchone()[0]
                    if used > scope.requests_per_second:
                        raise RateLimited(retry_after=1)
                if work is None:
                    return None
                result, counts = work(db, now)
                metering.add_in_transaction(db, org, ns, metering.utc_today(), counts)
                return result
        except sqlite3.Error as exc:
            log.warning("embedded cache store unavailable: %s", exc)
            raise StoreUnavailable(str(exc)) from exc

    @staticmethod
    def _tag(scope):
        return keyspace.namespace_tag(scope.organization_id, scope.namespace_id)

    def _read(self, db, tag, keys, now):
        found = {}
        # SQLite's default limit on bound parameters is well above a batch of 1000 keys plus one.
        marks = ",".join("?" * len(set(keys)))
        for key, value, expires_at in db.execute(
            f"SELECT key, value, expires_at FROM entries WHERE tag=? AND key IN ({marks}) AND expires_at > ?",
            (tag, *set(keys), now),
        ):
            found[bytes(key)] = (bytes(value), keyspace.seconds_remaining((expires_at - now) * 1000))
        return [found.get(key) for key in keys]

    def get(self, scope, key):
        return self.mget(scope, [key])[0]

    def mget(self, scope, keys):
        def work(db, now):
            results = self._read(db, self._tag(scope), keys, now)
            hits = [result for result in results if result is not None]
            counts = {
                "requests": len(keys),
                "hits": len(hits),
                "misses": len(keys) - len(hits),
                "bytes_served": sum(len(value) for value, _ in hits),
            }
            return results, counts

        return self._transaction(scope, work)

    def mset(self, scope, items):
        def work(db, now):
            tag = self._tag(scope)
            db.executemany(
                "INSERT INTO entries VALUES (?, ?, ?, ?) ON CONFLICT (tag, key) DO UPDATE SET"
                " value = excluded.value, expires_at = excluded.expires_at",
                [(tag, key, value, now + ttl) for key, value, ttl in items],
            )
            self._writes += len(items)
            if self._writes >= LOCAL_SWEEP_EVERY:
                self._writes = 0
                db.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
            counts = {"requests": len(items), "sets": len(items), "bytes_written": sum(len(v) for _, v, _ in items)}
            return None, counts

        self._transaction(scope, work)

    def delete(self, scope, key):
        def work(db, now):
            deleted = db.execute(
                "DELETE FROM entries WHERE tag=? AND key=? RETURNING expires_at", (self._tag(scope), key)
            ).fetchone()
            return deleted is not None and deleted[0] > now, {"requests": 1, "deletes": 1}

        return self._transaction(scope, work)

    def admit(self, scope):
        self._transaction(scope, None)

    def drop_namespace(self, organization_id, namespace_id):
        tag = keyspace.namespace_tag(organization_id, namespace_id)
        with self.database.write() as db:
            db.execute("DELETE FROM auth_tokens WHERE org=? AND ns=?", (organization_id, namespace_id))
            return db.execute("DELETE FROM entries WHERE tag=?", (tag,)).rowcount

    # Tokens per (organization, namespace) as in Redis; ns 0 is the organization's namespace-less token.

    def auth_token(self, organization_id, namespace_id=None):
        row = (
            self.database.connection()
            .execute("SELECT token FROM auth_tokens WHERE org=? AND ns=?", (organization_id, namespace_id or 0))
            .fetchone()
        )
        return row[0] if row else None

    def ensure_auth_token(self, organization_id, namespace_id=None):
        key = (organization_id, namespace_id or 0)
        with self.database.write() as db:
            db.execute("INSERT OR IGNORE INTO auth_tokens VALUES (?, ?, ?)", (*key, uuid.uuid4().hex))
            return db.execute("SELECT token FROM auth_tokens WHERE org=? AND ns=?", key).fetchone()[0]

    def bump_auth_tokens(self, organization_id, namespace_ids=()):
        with self.database.write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO auth_tokens VALUES (?, ?, ?)",
                [(organization_id, namespace_id or 0, uuid.uuid4().hex) for namespace_id in (None, *namespace_ids)],
            )

    # One machine, one file: the in-process cache plus the token check is all the embedded mode needs.
    def shared_get(self, digest, namespace_name):
        return None

    def shared_put(self, digest, namespace_name, payload):
        pass

    def shared_forget(self, digest, namespace_name):
        pass


_store = None


def get_store():
    """The store for the current settings (rebuilt when tests change REDIS_URL, the alias or the path)."""
    global _store
    if settings.REDIS_URL:
        alias = settings.CACHE_API_REDIS_ALIAS
        if not isinstance(_store, RedisStore) or _store.alias != alias:
            _store = RedisStore(alias)
    else:
        database = localdb.database()
        if not isinstance(_store, LocalStore) or _store.database is not database:
            _store = LocalStore(database)
    return _store


def reset():
    """Forget the cached store and client (tests that swap Redis servers)."""
    global _store
    _store = None
