"""Read-through from a namespace's S3-compatible origin (seagate_lyve_connector node).

A miss fetches the object once, stores it deduplicated like any PUT, and is counted as a miss with
its origin bytes; later requests are hits served from the store. Credentials are decrypted only to
build the client and are never logged or returned.
"""

import hashlib
import logging
import threading
import time
import uuid

from django.core.cache import cache
from django.utils import timezone
from rest_framework import status

from config.errors import ApiError
from dedup import crypto, selectors, services
from dedup.models import Origin

log = logging.getLogger(__name__)

_clients = {}
_lock = threading.Lock()


class OriginReadError(Exception):
    pass


def origin_unavailable(namespace_name):
    return ApiError(
        "origin_unavailable",
        f"The origin of namespace '{namespace_name}' could not be reached; nothing was stored.",
        status.HTTP_502_BAD_GATEWAY,
    )


def check_endpoint(endpoint_url):
    """Refuse endpoints on private, loopback or link-local addresses (SSRF) unless settings allow them."""
    import ipaddress
    import socket
    import urllib.parse

    from django.conf import settings

    parsed = urllib.parse.urlsplit(endpoint_url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ApiError("invalid_field", "endpoint_url must be an http(s) URL.", field="endpoint_url")
    if settings.DEDUP_ORIGIN_ALLOW_PRIVATE:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, parsed.port or 443)}
    except OSError:
        raise ApiError("invalid_field", f"Cannot resolve {parsed.hostname}.", field="endpoint_url")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise ApiError("invalid_field", "endpoint_url must be a public address.", field="endpoint_url")


def configure_origin(
    namespace, *, endpoint_url, bucket, access_key_id, secret_access_key, prefix="", region="", kind=Origin.Kind.LYVE
):
    """Create or replace a namespace's origin; the credentials are stored encrypted only."""
    check_endpoint(endpoint_url)
    origin, _ = Origin.objects.update_or_create(
        namespace=namespace,
        defaults={
            "kind": kind,
            "endpoint_url": endpoint_url,
            "bucket": bucket,
            "prefix": prefix or "",
            "region": region or "us-east-1",
            "access_key_id_encrypted": crypto.encrypt(access_key_id),
            "secret_access_key_encrypted": crypto.encrypt(secret_access_key),
            "updated_at": timezone.now(),
        },
    )
    return origin


def _client(origin):
    cache_key = (origin.id, origin.updated_at)
    client = _clients.get(cache_key)
    if client is None:
        import boto3
        import botocore.config

        with _lock:
            client = boto3.client(
                "s3",
                endpoint_url=origin.endpoint_url,
                region_name=origin.region or None,
                aws_access_key_id=crypto.decrypt(origin.access_key_id_encrypted),
                aws_secret_access_key=crypto.decrypt(origin.secret_access_key_encrypted),
                config=botocore.config.Config(
                    connect_timeout=3,
                    read_timeout=30,
                    retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
            _clients[cache_key] = client
    return client


def object_key(origin, path):
    prefix = origin.prefix or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix + path


# One fetch per path at a time (single flight): concurrent misses of a new release wait for the first
# one's fetch instead of each paying the origin's egress. The lock is short-lived and kept alive by a
# small thread while the fetch runs, so a fetcher that dies hard (OOM, SIGKILL) blocks the path for one
# lock lifetime at most. A waiter gives up after FETCH_WAIT_SECONDS with a 503 and Retry-After rather
# than hold a web worker for a long fetch. A fetch that ends without a file leaves its outcome, tagged
# with its lock token, for a few seconds: waiters that saw that fetch hold the lock answer at once.
FETCH_LOCK_SECONDS = 30
FETCH_LOCK_REFRESH_SECONDS = 10
FETCH_WAIT_SECONDS = 10
FETCH_POLL_MAX_SECONDS = 0.5
FETCH_OUTCOME_SECONDS = 10
MISSING, FAILED = "missing", "failed"


def fetch_lock_key(namespace_id, path):
    return f"dedup:origin-fetch:{namespace_id}:{hashlib.sha256(path.encode()).hexdigest()}"


class FetchLock:
    """A lock in the Django cache (Redis in production) owned by a random token.

    Release and refresh check the owner first; the check and the write are two cache calls, so in the
    worst case (the lock expired in between) two fetches of one path run at once: the price is egress,
    never data, since the store deduplicates and the manifest commit is transactional.
    """

    def __init__(self, key):
        self.key = key
        self.outcome_key = key + ":outcome"
        self.token = uuid.uuid4().hex
        self.held = False
        self._stop = None

    def acquire(self):
        try:
            self.held = cache.add(self.key, self.token, timeout=FETCH_LOCK_SECONDS)
            if self.held:
                cache.delete(self.outcome_key)  # an earlier fetch's outcome says nothing about ours
        except Exception:  # noqa: BLE001 - the lock saves egress; without the cache, fetch as if alone
            log.warning("origin fetch lock unavailable; fetching without it")
            self.held = True
        if self.held:
            self._stop = threading.Event()
            threading.Thread(target=self._keep_alive, args=(self._stop,), name="fetch-lock", daemon=True).start()
        return self.held

    def holder(self):
        """The token of whoever holds the lock now (None if nobody or the cache is down)."""
        try:
            return cache.get(self.key)
        except Exception:  # noqa: BLE001
            return None

    def _keep_alive(self, stop):
        # Time to first byte, a slow origin and the final commit all count: refresh on a clock.
        while not stop.wait(FETCH_LOCK_REFRESH_SECONDS):
            try:
                if cache.get(self.key) != self.token:
                    return
                cache.touch(self.key, FETCH_LOCK_SECONDS)
            except Exception:  # noqa: BLE001 - worst case another fetch starts
                log.warning("origin fetch lock could not be refreshed")

    def release(self, outcome=None):
        if not self.held:
            return
        self.held = False
        if self._stop is not None:
            self._stop.set()
        try:
            if cache.get(self.key) == self.token:
                if outcome is not None:
                    cache.set(self.outcome_key, f"{self.token}:{outcome}", timeout=FETCH_OUTCOME_SECONDS)
                cache.delete(self.key)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.warning("origin fetch lock could not be released; it expires in %s s", FETCH_LOCK_SECONDS)

    def outcome_of(self, tokens):
        """MISSING or FAILED if one of these fetches (tokens seen holding the lock) ended that way."""
        try:
            tagged = cache.get(self.outcome_key)
        except Exception:  # noqa: BLE001 - no memo: wait for the file as usual
            return None
        if not tagged:
            return None
        token, _, outcome = tagged.partition(":")
        return outcome if token in tokens else None


def fetch_in_progress(path):
    return ApiError(
        "origin_fetch_in_progress",
        f"'{path}' is being fetched from the origin by another request; retry shortly.",
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def read_through(context, path):
    """Serve a miss from the origin. Returns (File or None if the origin lacks it, fetched_by_us).

    While another request fetches the same path, wait for its file (served from the store: a hit,
    no origin bytes) rather than fetching it a second time.
    """
    origin = Origin.objects.filter(namespace_id=context.namespace.id).first()
    if origin is None:
        return None, False
    lock = FetchLock(fetch_lock_key(context.namespace.id, path))
    deadline = time.monotonic() + FETCH_WAIT_SECONDS
    delay = 0.02
    seen = set()  # fetches seen in flight while we wait: only their outcomes answer for us
    while not lock.acquire():
        holder = lock.holder()
        if holder:
            seen.add(holder)
        outcome = lock.outcome_of(seen)
        if outcome == FAILED:
            raise origin_unavailable(context.namespace.name)
        file = selectors.get_file(context.namespace.id, path)  # also catches a PUT that just stored it
        if file is not None:
            return file, False
        if outcome == MISSING:
            return None, False
        if time.monotonic() >= deadline:
            raise fetch_in_progress(path)
        time.sleep(delay)
        delay = min(2 * delay, FETCH_POLL_MAX_SECONDS)
    outcome = None
    try:
        file = selectors.get_file(context.namespace.id, path)  # stored between our miss and the lock
        if file is not None:
            return file, False
        try:
            file = _fetch(context, origin, path)
        except ApiError as exc:
            if exc.code == "origin_unavailable":
                outcome = FAILED  # waiters answer 502 now instead of each retrying the broken origin
            raise
        outcome = None if file is not None else MISSING
        return file, True
    finally:
        lock.release(outcome)


def _fetch(context, origin, path):
    """Fetch `path` from the origin into the store. Returns the File, or None if the origin lacks it."""
    import botocore.exceptions

    client = _client(origin)
    try:
        response = client.get_object(Bucket=origin.bucket, Key=object_key(origin, path))
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404", "NotFound"):
            return None
        log.warning("origin error for namespace %s: %s", context.namespace.id, code)
        raise origin_unavailable(context.namespace.name)
    except botocore.exceptions.BotoCoreError as exc:
        log.warning("origin unreachable for namespace %s: %s", context.namespace.id, type(exc).__name__)
        raise origin_unavailable(context.namespace.name)

    body = response["Body"]
    fetched = 0

    def read(size):
        nonlocal fetched
        try:
            data = body.read(size)
        except Exception as exc:  # noqa: BLE001 - any transport failure mid-body aborts the whole fetch
            raise OriginReadError(str(exc)) from exc
        fetched += len(data)
        return data

    declared = response.get("ContentType")
    if declared in ("binary/octet-stream", "application/octet-stream"):
        declared = None
    try:
        committed, ingested = services.put_file(
            context, path, read, declared_content_type=declared, origin_fetched=True
        )
    except Exception as exc:
        # The bytes read so far left the origin (and were paid for) even though nothing was stored:
        # blob backend down (503), over quota (413), origin cut mid-body (502). A miss with its origin
        # bytes; no hit, no file, no bytes served.
        services.record_miss(context, origin_bytes=fetched, request=True)
        if isinstance(exc, OriginReadError):
            raise origin_unavailable(context.namespace.name) from exc
        raise
    finally:
        body.close()
    services.record_miss(context, origin_bytes=fetched)
    return committed.file


def describe(origin):
    """What the API shows about an origin: never the credentials."""
    return {
        "kind": origin.kind,
        "endpoint_url": origin.endpoint_url,
        "bucket": origin.bucket,
        "prefix": origin.prefix,
        "region": origin.region,
        "credentials": "stored encrypted; not shown",
        "updated_at": origin.updated_at.isoformat(),
    }
