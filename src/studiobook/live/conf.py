"""Live-availability settings: a Django setting of the same name wins, else the environment,
else the default (so nothing has to be added to ``conf/settings.py``).

- ``STUDIOBOOK_STREAM_URL``: where the WSGI endpoint redirects streams, e.g.
  ``https://stream.example.com``. Empty (the default): the host the client used, on
  ``STUDIOBOOK_STREAM_PORT``.
- ``STUDIOBOOK_STREAM_PORT``: the stream server's port when no URL is set; default: the port
  the client used + 1 (``studiobook serve --port 8000`` puts the stream on 8001).
- ``STUDIOBOOK_LIVE_POLL_SECONDS``: how often the stream server reads the outbox when no
  push signal (LISTEN/NOTIFY, Redis) is up: 0.25. ``STUDIOBOOK_LIVE_SAFETY_POLL_SECONDS``:
  how often it reads anyway while one is up (a lost signal costs at most this): 5.
- ``STUDIOBOOK_LIVE_HEARTBEAT_SECONDS``: a comment line on idle streams: 15.
- ``STUDIOBOOK_LIVE_RETENTION_SECONDS``: outbox rows older than this are pruned: 3600.
- ``REDIS_URL`` (the project's): when set, changes are also published on Redis.
- ``STUDIOBOOK_LIVE_PG_NOTIFY``: ``1`` (default) uses NOTIFY/LISTEN on PostgreSQL; ``0`` turns
  both off (behind PgBouncer in transaction mode, where LISTEN does not work: use Redis).
"""

from __future__ import annotations

import os

from django.conf import settings

NOTIFY_CHANNEL = "studiobook_availability"  # PostgreSQL LISTEN/NOTIFY channel
REDIS_CHANNEL = "studiobook:availability"  # Redis pub/sub channel
STREAM_PATH_PREFIX = "/api/studios/"
STREAM_PATH_SUFFIX = "/availability/stream"


def _value(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return str(value)


def stream_url() -> str:
    return _value("STUDIOBOOK_STREAM_URL").rstrip("/")


def stream_port() -> int | None:
    value = _value("STUDIOBOOK_STREAM_PORT")
    return int(value) if value else None


def poll_seconds() -> float:
    return float(_value("STUDIOBOOK_LIVE_POLL_SECONDS", "0.25"))


def safety_poll_seconds() -> float:
    return float(_value("STUDIOBOOK_LIVE_SAFETY_POLL_SECONDS", "5"))


def heartbeat_seconds() -> float:
    return float(_value("STUDIOBOOK_LIVE_HEARTBEAT_SECONDS", "15"))


def retention_seconds() -> int:
    return int(float(_value("STUDIOBOOK_LIVE_RETENTION_SECONDS", "3600")))


def pg_notify() -> bool:
    return _value("STUDIOBOOK_LIVE_PG_NOTIFY", "1").strip().lower() not in {"0", "false", "no",
                                                                            "off"}


def redis_url() -> str:
    return _value("REDIS_URL")
