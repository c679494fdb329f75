"""The write side: the ``availability.changed`` handler that fills the outbox and wakes the
stream servers, and the periodic prune.

``record_change`` runs inside the booking's transaction (``bookings.events``,
``subscribe_in_transaction``), so the outbox row commits with the change or not at all: a
process killed right after the commit cannot lose it (issue 9 section 3). It inserts one
``AvailabilityChange`` and signals it:

- PostgreSQL: ``NOTIFY studiobook_availability, '<id>'`` in the same transaction, so
  listeners hear of the row exactly when it becomes visible (PostgreSQL delivers
  notifications at commit);
- ``REDIS_URL`` set: ``PUBLISH studiobook:availability <id>`` after the commit (best effort:
  a Redis that is down is skipped for 30 s and the stream servers' poll delivers instead);
- neither: nothing; the stream servers read the table every ``STUDIOBOOK_LIVE_POLL_SECONDS``.

On PostgreSQL the insert takes a transaction-scoped advisory lock first, so outbox ids commit
in id order (a reader that remembers the last id it saw can never skip a row whose
transaction committed after a later id's). The lock is held from the insert to the booking's
commit (the insert is the last thing, or nearly, that a booking transaction does, and every
writer takes its resource locks before it, so the order of locks is always the same); SQLite
needs nothing (it admits one writer at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from studiobook.live import conf

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(bigint): a key space apart from the bookings' two-int4 resource locks.
OUTBOX_LOCK_KEY = 0x5342_4C49_5645  # "SBLIVE"
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_BACKOFF_SECONDS = 30.0


def record_change(event) -> int:
    """Write ``event`` (an ``availability.changed`` ``bookings.events.Event``) to the outbox
    and wake the stream servers; returns the new row's id."""
    from studiobook.live.models import AvailabilityChange

    data = event.data
    with transaction.atomic():
        postgres = connection.vendor == "postgresql"
        notify = postgres and conf.pg_notify()
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OUTBOX_LOCK_KEY])
        change = AvailabilityChange.objects.create(
            studio_id=event.studio_id,
            room_ids=sorted(int(i) for i in data.get("room_ids", ())),
            staff_ids=sorted(int(i) for i in data.get("staff_ids", ())),
            start_at=_instant(data["start"]), end_at=_instant(data["end"]))
        if notify:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [conf.NOTIFY_CHANNEL, str(change.id)])
    if conf.redis_url():
        transaction.on_commit(lambda: _publish_on_redis(change.id))
    return change.id


def _instant(value) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"availability.changed needs aware instants, got {value!r}")
    return instant


# --- Redis (optional) -------------------------------------------------------------------------
# Per process: a client (thread-safe, it pools connections and resets them after a fork) and a
# "down until" instant so a dead Redis costs one timeout per 30 s, not one per booking.

_redis_lock = threading.Lock()
_redis_client = None
_redis_client_url = ""
_redis_down_until = 0.0


def _publish_on_redis(change_id: int) -> None:
    global _redis_client, _redis_client_url, _redis_down_until
    url = conf.redis_url()
    if not url or time.monotonic() < _redis_down_until:
        return
    import redis

    try:
        with _redis_lock:
            if _redis_client is None or _redis_client_url != url:
                _redis_client = redis.Redis.from_url(
                    url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
                _redis_client_url = url
            client = _redis_client
        client.publish(conf.REDIS_CHANNEL, str(change_id))
    except redis.RedisError as error:
        _redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        logger.warning("live availability: Redis PUBLISH failed (%s); the stream servers' "
                       "poll delivers instead; retrying Redis in %.0f s", error,
                       REDIS_BACKOFF_SECONDS)


# --- pruning ----------------------------------------------------------------------------------

def prune(now: datetime | None = None) -> int:
    """Delete outbox rows older than the retention (default an hour), always keeping the
    newest row. Returns how many were deleted. A periodic job (``live.prune_outbox``); the
    stream server also runs it now and then, so a deployment without a worker stays bounded."""
    from studiobook.live.models import AvailabilityChange

    now = now or timezone.now()
    newest = AvailabilityChange.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is None:
        return 0
    cutoff = now - timedelta(seconds=conf.retention_seconds())
    deleted, _ = AvailabilityChange.objects.filter(created_at__lt=cutoff, id__lt=newest).delete()
    return deleted
