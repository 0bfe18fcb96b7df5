"""Validation of cache keys and TTLs, and the names of everything the cache API stores.

Pure functions (no Django) shared by both stores and the views.

Layout (Redis; the embedded store uses the same tags as row keys):

    ac:{o<org>:n<ns>}:k:<key bytes>      a value (JSON bytes, with the TTL as the Redis TTL)
    ac:{o<org>:n<ns>}:m:<YYYYMMDD>       that namespace's usage counters (cache_api.metering)
    ac:{o<org>:n<ns>}:authv              the namespace's auth version token (see authcache)
    ac:{o<org>:n<ns>}:rl:<unix second>   the namespace's request count in that second
    ac:{o<org>}:authv                    token of key resolutions without a namespace (never in a script)
    ac:auth:<key digest>                 shared auth cache: hash of namespace name -> resolved context

Every key a store script touches carries the hash tag `{o<org>:n<ns>}`, so each script call
(and an mget of 1000 keys) stays in one Redis Cluster slot: no CROSSSLOT, one round trip.
Organization and namespace are database ids, never names taken from the request, so no
request can address another organization's keys.
"""

import math
import re

MAX_KEY_BYTES = 512
MIN_TTL = 1
MAX_TTL = 30 * 86400
FALLBACK_TTL = 86400
MAX_BATCH = 1000

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidField(ValueError):
    """A bad field in a request body; `field` names it (e.g. "items[3].ttl")."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def namespace_tag(organization_id, namespace_id):
    return f"{{o{organization_id}:n{namespace_id}}}"


def value_key_prefix(organization_id, namespace_id):
    return f"ac:{namespace_tag(organization_id, namespace_id)}:k:".encode()


def auth_version_key(organization_id, namespace_id=None):
    """The namespace's token; with no namespace, the organization's (for namespace-less resolutions)."""
    if namespace_id is None:
        return f"ac:{{o{organization_id}}}:authv"
    return f"ac:{namespace_tag(organization_id, namespace_id)}:authv"


def rate_key(organization_id, namespace_id, second):
    return f"ac:{namespace_tag(organization_id, namespace_id)}:rl:{second}"


def shared_auth_key(digest):
    return f"ac:auth:{digest}"


def check_key(key, field="key"):
    """The key's UTF-8 bytes, or InvalidField."""
    if not isinstance(key, str):
        raise InvalidField(field, "Must be a string.")
    if not key:
        raise InvalidField(field, "Must not be empty.")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "Must be valid UTF-8 (no unpaired surrogates).")
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidField(field, f"Must be at most {MAX_KEY_BYTES} bytes of UTF-8; this one is {len(encoded)}.")
    if _CONTROL_CHARACTERS.search(key):
        raise InvalidField(field, "Must not contain control characters.")
    return encoded


def check_ttl(ttl, default, field="ttl"):
    if ttl is None:
        return default or FALLBACK_TTL
    # bool is an int subclass in Python; `true` is not a TTL.
    if not isinstance(ttl, int) or isinstance(ttl, bool):
        raise InvalidField(field, f"Must be an integer number of seconds from {MIN_TTL} to {MAX_TTL}.")
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidField(field, f"Must be from {MIN_TTL} to {MAX_TTL} seconds; got {ttl}.")
    return ttl


def check_key_list(keys, field="keys"):
    if not isinstance(keys, list):
        raise InvalidField(field, "Must be a list of keys.")
    if not 1 <= len(keys) <= MAX_BATCH:
        raise InvalidField(field, f"Must hold from 1 to {MAX_BATCH} keys; got {len(keys)}.")
    return [check_key(key, f"{field}[{index}]") for index, key in enumerate(keys)]


def seconds_remaining(milliseconds):
    """Whole seconds left, rounded up: a value set with ttl=10 reads back 10 at once, 0 never."""
    return max(1, math.ceil(milliseconds / 1000))
