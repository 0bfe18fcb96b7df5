"""Zero-SQL API-key resolution: an in-process cache backed by Redis, checked against a version token.

Every namespace has an auth version token in the store (`ac:{o<org>:n<ns>}:authv`, a random
string, in the namespace's Redis Cluster slot so the store scripts can check it), and the
organization one more for resolutions without a namespace (`ac:{o<org>}:authv`). Any change
that can affect key resolution (revoke, expiry edit, plan change, namespace change,
deactivation, allowed namespaces) replaces all of the organization's tokens; the list of its
namespaces comes from the database at invalidation time (a write path, never the hot path),
and a deleted namespace's token is replaced explicitly (cache_api.signals). An entry remembers
the token that was current *before* its database read, so an entry whose token no longer
matches may be stale and is re-read.

- The cache API's hot path takes the entry with no I/O at all (`lookup`) and hands the token
  to the store, whose script compares it in the same round trip as the data operation; on a
  mismatch the view re-resolves and retries (`StaleAuth`).
- Everyone else (`tenants.auth.resolve`) gets `resolve`: the entry plus one GET of the token.
- A process that has not seen a key yet reads the shared copy from Redis (`ac:auth:<digest>`)
  before going to the database, so new workers do not stampede PostgreSQL.

A random token (not a counter) means a Redis that lost its data cannot revive an old version.
Entries also expire MAX_AGE_SECONDS after their database read, which bounds staleness if an
invalidation could not reach Redis at all; the shared copy carries that read's time, so a
copy re-read by another process does not restart the clock. last_used_at is written at most
once a minute per key and process, and a failure to write it never fails the request.
"""

import contextlib
import dataclasses
import logging
import time

import orjson
from django.db import DatabaseError, connection, transaction

from cache_api import selectors as cache_selectors
from cache_api import stores
from tenants import auth, keys, selectors, services

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 60
MAX_ENTRIES = 20000
TOUCH_EVERY_SECONDS = 60


class Entry:
    __slots__ = (
        "cache_key",
        "context",
        "token",
        "key_expires_at",
        "loaded_epoch",
        "loaded_at",
        "touched_at",
        "scope",
    )

    def __init__(self, cache_key, context, token, key_expires_at, loaded_epoch=None):
        self.cache_key = cache_key
        self.context = context
        self.token = token
        self.key_expires_at = key_expires_at  # epoch seconds or None
        now_epoch, now = time.time(), time.monotonic()
        # When the database was read (epoch seconds, shared between processes); staleness counts from it.
        self.loaded_epoch = now_epoch if loaded_epoch is None else loaded_epoch
        self.loaded_at = now - max(0.0, now_epoch - self.loaded_epoch)
        self.touched_at = now
        namespace = context.namespace
        self.scope = (
            None
            if namespace is None
            else stores.Scope(context.organization_id, namespace.id, token, context.plan.requests_per_second)
        )

    def fresh(self, now_monotonic):
        return now_monotonic - self.loaded_at < MAX_AGE_SECONDS and (
            self.key_expires_at is None or time.time() < self.key_expires_at
        )


_entries = {}


def lookup(plaintext, namespace_name):
    """The entry for a key and namespace, from memory when possible; its token is NOT yet checked.

    Raises the documented auth errors (invalid key, namespace not found / not allowed).
    """
    if not keys.looks_like_key(plaintext):
        raise auth.invalid_key()
    digest = keys.digest(plaintext)
    cache_key = (digest, namespace_name)
    entry = _entries.get(cache_key)
    if entry is not None:
        now = time.monotonic()
        if entry.fresh(now):
            if now - entry.touched_at >= TOUCH_EVERY_SECONDS:
                entry.touched_at = now
                touch(entry.context.api_key_id)
            return entry
        _entries.pop(cache_key, None)
    return _load(plaintext, digest, namespace_name)


def touch(api_key_id):
    """Record the key's use; bookkeeping only, so a database failure is logged, never the request's."""
    # Inside a caller's transaction, a savepoint keeps a failed UPDATE from breaking it (requests run
    # in autocommit, so the cache API pays no savepoint).
    guard = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with guard:
            services.touch_last_used(api_key_id)
    except DatabaseError as exc:
        log.warning("could not record last use of API key %s: %s: %s", api_key_id, type(exc).__name__, exc)


def resolve(plaintext, namespace_name=None):
    """TenantContext checked against the current token (one store read; the database only on change)."""
    entry = lookup(plaintext, namespace_name)
    if entry.token is None:  # just read from the database while the store was down
        return entry.context
    try:
        namespace = entry.context.namespace
        current = stores.get_store().auth_token(
            entry.context.organization_id, None if namespace is None else namespace.id
        )
    except stores.StoreUnavailable:
        return auth.resolve_from_database(plaintext, namespace_name)
    if current == entry.token:
        return entry.context
    forget(entry)
    return lookup(plaintext, namespace_name).context


def forget(entry):
    """Drop an entry whose token turned out stale, here and in the shared copy."""
    _entries.pop(entry.cache_key, None)
    try:
        stores.get_store().shared_forget(*entry.cache_key)
    except stores.StoreUnavailable:
        pass


def invalidate_organization(organization_id, also=()):
    """Move the tokens of the organization and all its namespaces (every process sees it on its next
    request) and drop local entries. `also`: ids of namespaces no longer in the database (just deleted)."""
    for cache_key, entry in list(_entries.items()):
        if entry.context.organization_id == organization_id:
            _entries.pop(cache_key, None)
    namespace_ids = sorted({*cache_selectors.namespace_ids(organization_id), *also})
    try:
        stores.get_store().bump_auth_tokens(organization_id, namespace_ids)
    except stores.StoreUnavailable:
        # Entries elsewhere stay valid at most MAX_AGE_SECONDS; the cache API itself is down meanwhile.
        log.error("could not publish auth change of organization %s: store unavailable", organization_id)


def clear():
    _entries.clear()


def _remember(entry):
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()  # crude but bounded; a working set this large reloads from the shared copy
    _entries[entry.cache_key] = entry
    return entry


def _load(plaintext, digest, namespace_name):
    cache_key = (digest, namespace_name)
    store = stores.get_store()
    try:
        shared = store.shared_get(digest, namespace_name)
        if shared is not None:
            entry = _from_payload(cache_key, shared)
            if entry.fresh(time.monotonic()):  # counted from the original database read
                return _remember(entry)
        return _load_from_database(plaintext, cache_key, store)
    except stores.StoreUnavailable:
        # No token to check an entry against: answer from the database and cache nothing.
        context = auth.resolve_from_database(plaintext, namespace_name)
        return Entry(cache_key, context, None, None)


def _find_key(plaintext):
    api_key = selectors.find_api_key(plaintext)
    if api_key is None:
        raise auth.invalid_key()
    return api_key


def _load_from_database(plaintext, cache_key, store):
    namespace_name = cache_key[1]
    api_key = _find_key(plaintext)
    # The token lives with the namespace, so learn its id first.
    namespace_id = cache_selectors.namespace_id(api_key.organization_id, namespace_name)
    for _attempt in range(3):
        token = store.ensure_auth_token(api_key.organization_id, namespace_id)
        # Read again after taking the token: a change committed before this point shows in this read,
        # one committed after it moves the token; either way the entry cannot outlive the change.
        api_key = _find_key(plaintext)
        context = auth.build_context(api_key, namespace_name)
        loaded_id = None if context.namespace is None else context.namespace.id
        if loaded_id == namespace_id:
            break
        namespace_id = loaded_id  # the name was created, or deleted and re-created, meanwhile: take its token
    else:
        raise stores.StoreUnavailable("namespace kept changing while its key was resolved")
    touch(api_key.id)
    expires_at = api_key.expires_at.timestamp() if api_key.expires_at else None
    entry = Entry(cache_key, context, token, expires_at)
    store.shared_put(*cache_key, _to_payload(entry))
    return _remember(entry)


def _to_payload(entry):
    return orjson.dumps(
        {
            "token": entry.token,
            "exp": entry.key_expires_at,
            "at": entry.loaded_epoch,
            "ctx": dataclasses.asdict(entry.context),
        }
    )


def _from_payload(cache_key, payload):
    data = orjson.loads(payload)
    ctx = data["ctx"]
    namespace = ctx["namespace"]
    context = auth.TenantContext(
        api_key_id=ctx["api_key_id"],
        key_digest=ctx["key_digest"],
        organization_id=ctx["organization_id"],
        organization_slug=ctx["organization_slug"],
        plan=auth.PlanLimits(**ctx["plan"]),
        namespace=None
        if namespace is None
        else auth.NamespaceInfo(**{**namespace, "nodes": tuple(namespace["nodes"])}),
    )
    # A copy without a load time (written before it was recorded) counts as loaded just now.
    return Entry(cache_key, context, data["token"], data["exp"], data.get("at"))
