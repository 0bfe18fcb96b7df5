"""Failed-login limits shared by the portal login and POST /api/auth/login.

Failures are counted in the cache per email and per client address, over one
window of PORTAL_LOGIN_LOCKOUT_SECONDS starting at the first failure. At
PORTAL_LOGIN_MAX_FAILURES on either counter, both surfaces refuse the login
before the password is checked, so a locked-out guesser learns nothing. One
set of counters serves both surfaces: switching surface buys no extra guesses.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

PREFIX = "login-fail"


def client_address(request):
    """The caller's address: REMOTE_ADDR, or the Nth-from-right X-Forwarded-For entry behind N trusted proxies.

    Each trusted proxy appends the address it received the request from, so
    entries left of the Nth-from-right one are whatever the client sent and
    cannot be trusted.
    """
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= trusted:
            return forwarded[-trusted]
        if forwarded:  # fewer hops than configured: the leftmost is the closest to the client we have
            return forwarded[0]
    return request.META.get("REMOTE_ADDR", "")


def _keys(request, email):
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]
    return [f"{PREFIX}:email:{digest}", f"{PREFIX}:addr:{client_address(request)}"]


def _ttl(key):
    ttl = getattr(cache, "ttl", None)  # django-redis knows the remaining time; locmem does not
    if ttl is not None:
        remaining = ttl(key)
        if isinstance(remaining, int) and remaining > 0:
            return remaining
    return settings.PORTAL_LOGIN_LOCKOUT_SECONDS


def locked_out(request, email):
    """Seconds until a login for this email from this client may be tried again, or 0 if it may now."""
    blocked = [key for key in _keys(request, email) if (cache.get(key) or 0) >= settings.PORTAL_LOGIN_MAX_FAILURES]
    return max((_ttl(key) for key in blocked), default=0)


def record_failure(request, email):
    for key in _keys(request, email):
        if not cache.add(key, 1, settings.PORTAL_LOGIN_LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, settings.PORTAL_LOGIN_LOCKOUT_SECONDS)


def record_success(request, email):
    """A correct password clears the email's counter (the address's stays: it may be guessing other emails)."""
    cache.delete(_keys(request, email)[0])


def lockout_message(seconds):
    minutes = max(1, -(-seconds // 60))
    return f"Too many failed sign-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
