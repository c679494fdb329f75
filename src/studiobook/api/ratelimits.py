"""Rate limits on the requests that cost the most or can be abused (recording-studio-prd.md
section 14: "per IP and per user on booking/payment endpoints"), shared across processes.

Counters live in Django's ``default`` cache: Redis (``django.core.cache.backends.redis``) when
``CACHE_URL`` or ``REDIS_URL`` is set, so every gunicorn worker and every server counts
together; local memory otherwise (one process: the embedded default).

Two libraries keep the counts; none are our own:

- sign-in and sign-up go through **django-allauth's** limits, the ones its browser forms use
  (``ACCOUNT_RATE_LIMITS``: ``login`` per IP for every attempt, ``login_failed`` per IP and per
  account for wrong passwords, ``signup`` per IP), so ``POST /api/auth/login`` and the
  ``/accounts/login/`` form spend ONE budget, and both check it before the password is hashed;
- holds, bookings and payments, per user and per IP, go through **django-ratelimit**
  (``django_ratelimit.core.get_usage``: a fixed window per key, atomic ``incr`` in the cache),
  with the rates in ``settings.STUDIOBOOK_RATE_LIMITS``.

A limited API request is a 429 RFC 9457 problem with ``Retry-After``; a limited page is the
429 page (``429.html``), also with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django_ratelimit.core import get_usage

# POST to these views (namespaced url names) spends the named budget. Reschedules re-book.
SCOPE_OF_VIEW: dict[str, str] = {
    "api:place_hold": "holds",
    "web:book": "holds",
    "api:create_booking": "bookings",
    "web:hold": "bookings",
    "api:reschedule_booking": "bookings",
    "web:booking-reschedule": "bookings",
    "api:retry_payment": "payments",
    "web:pay": "payments",
}


def _user_key(group, request) -> str:
    return str(request.user.pk)


def _ip_key(group, request) -> str:
    """The caller's network, as django-ratelimit's own ``"ip"`` key computes it (the address
    in ``REMOTE_ADDR``, or in ``RATELIMIT_IP_META_KEY`` behind a proxy; IPv6 by its /64), but
    never an exception: a request with no address (a WSGI server on a Unix socket, a test
    client) or a malformed one counts in one shared ``no-address`` bucket instead of being a
    500, and a forwarded list (``X-Forwarded-For: client, proxy``) counts by its last entry,
    the one our own proxy wrote, which the client cannot choose."""
    meta_key = getattr(settings, "RATELIMIT_IP_META_KEY", None) or "REMOTE_ADDR"
    address = str(request.META.get(meta_key) or "").rsplit(",", 1)[-1].strip()
    mask = 64 if ":" in address else 32
    try:
        return str(ipaddress.ip_network(f"{address}/{mask}", strict=False).network_address)
    except ValueError:
        return "no-address"


def retry_after(request, scope: str) -> int | None:
    """Spend one request of ``scope``'s budget (``settings.STUDIOBOOK_RATE_LIMITS[scope]``:
    ``{"user": rate, "ip": rate}``, django-ratelimit rates such as ``"30/10m"``) for the
    caller's user (when signed in) and IP. Returns None when allowed, else the seconds until
    the tightest exhausted window resets (at least 1)."""
    rates = settings.STUDIOBOOK_RATE_LIMITS.get(scope, {})
    user = getattr(request, "user", None)
    waits = []
    for per, key in (("user", _user_key), ("ip", _ip_key)):
        rate = rates.get(per)
        if not rate or (per == "user" and not (user and user.is_authenticated)):
            continue
        usage = get_usage(request, group=f"studiobook.{scope}.{per}", key=key, rate=rate,
                          increment=True)
        if usage is not None and usage["should_limit"]:
            waits.append(max(1, usage["time_left"]))
    return max(waits) if waits else None


# --- allauth's limits, for the API's auth endpoints -----------------------------------------

def allauth_consume(request, action: str, *, key: str | None = None) -> int | None:
    """Spend one of allauth's ``action`` budget (``login``, ``signup``; as its own views do).
    Returns None when allowed, else the seconds to wait (``allauth_retry_after``)."""
    from allauth.core import ratelimit

    if ratelimit.consume(request, action=action, key=key):
        return None
    return allauth_retry_after(request, action, key=key)


def allauth_retry_after(request, action: str, *, key: str | None = None) -> int:
    """Seconds until allauth's ``action`` limit lets the caller in again: for each exhausted
    rate, when the oldest counted attempt leaves its sliding window. Allauth keeps that
    history in the cache; if its layout ever changes, the longest window is answered (never
    too short)."""
    from allauth.account import app_settings
    from allauth.core.internal import ratelimit as internal

    rates = internal.parse_rates(app_settings.RATE_LIMITS.get(action))
    longest = max((rate.duration for rate in rates), default=60)
    now = time.time()
    waits = []
    try:
        for rate in rates:
            if rate.per == "key" and key is None:
                continue
            cache_key = internal.get_cache_key(request, app="allauth.account", action=action,
                                               rate=rate, key=key)
            history = [ts for ts in cache.get(cache_key, []) if ts > now - rate.duration]
            if len(history) >= rate.amount:
                waits.append(history[rate.amount - 1] + rate.duration - now)
    except Exception:  # noqa: BLE001 - allauth internals moved: answer the safe upper bound
        return int(longest)
    return max(1, int(max(waits, default=longest) + 0.999))
