"""The stream server: a plain ASGI application serving

    GET /api/studios/{slug}/availability/stream[?room_id=..&staff_id=..&last_event_id=..]

as Server-Sent Events, to any number of clients from one asyncio process.

One ``Hub`` per process tails the outbox (``models.AvailabilityChange``): it keeps the last id
it has read, reads the rows after it when woken, and hands each row to the subscribers it
concerns, in memory. It is woken by PostgreSQL LISTEN (on PostgreSQL), by Redis SUBSCRIBE
(with ``REDIS_URL``), and by a timer: every ``STUDIOBOOK_LIVE_POLL_SECONDS`` (0.25 s) while no
push signal is up, every ``STUDIOBOOK_LIVE_SAFETY_POLL_SECONDS`` (5 s) while one is. So the
database sees one small query per wake-up per stream process, however many clients are
connected; clients cost memory, not queries. Several stream processes (uvicorn ``--workers``,
several machines) each run their own hub on the shared outbox: nothing here is state another
process needs (ARCHITECTURE.md principle 9).

A stream answers ``200 text/event-stream`` at once with ``retry: 2000``, an ``id:`` (the
client's resume point) and a ``: connected`` comment, then one event per change::

    id: 42
    event: availability
    data: {"id":42,"room_ids":[3],"staff_ids":[7],"start":"...Z","end":"...Z","at":"...Z"}

and ``: heartbeat`` (with an ``id:`` that moves the client's resume point on) after 15 s of
silence. ``room_id`` / ``staff_id`` (repeatable or comma separated) keep only the changes that
touch one of those rooms or engineers. A client that reconnects with ``Last-Event-ID`` (or
``?last_event_id=``) is first sent what it missed, from the table; when that cannot be told
(pruned, unknown id, too many), it gets ``event: reset`` and should re-run its searches.

Database work runs on a small thread pool, through the ordinary Django ORM; the event loop
never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from studiobook.live import conf, outbox

logger = logging.getLogger(__name__)

STREAM_PATH = re.compile(r"^/api/studios/(?P<slug>[-a-zA-Z0-9_]{1,64})/availability/stream/?$")
RETRY_MILLISECONDS = 2000
READ_BATCH = 500  # rows per outbox read; more are read at once after
CATCH_UP_LIMIT = 1000  # a client that missed more is told to reset
QUEUE_LIMIT = 1000  # changes waiting for one slow client; past that it is disconnected
MAX_FILTER_IDS = 50
PRUNE_EVERY_SECONDS = 600
DB_THREADS = 4

CORS_HEADERS = [
    # The stream is public (what availability search shows anyone), so any origin may read
    # it, without credentials. "*" also covers the "null" origin a browser sends after the
    # main server's cross-origin redirect.
    (b"access-control-allow-origin", b"*"),
]
PREFLIGHT_HEADERS = [
    *CORS_HEADERS,
    (b"access-control-allow-methods", b"GET, OPTIONS"),
    (b"access-control-allow-headers", b"last-event-id, cache-control"),
    (b"access-control-max-age", b"86400"),
]
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
    *CORS_HEADERS,
]


class Subscriber:
    """One open stream: what it wants, and the changes waiting to be written to it."""

    __slots__ = ("studio_id", "rooms", "staff", "pending", "wake", "closed")

    def __init__(self, studio_id: int, rooms: frozenset[int], staff: frozenset[int]):
        self.studio_id = studio_id
        self.rooms = rooms
        self.staff = staff
        self.pending: deque[outbox.Change] = deque()
        self.wake = asyncio.Event()
        self.closed: str | None = None  # why the stream must end

    def wants(self, change: outbox.Change) -> bool:
        if not self.rooms and not self.staff:
            return True
        return not self.rooms.isdisjoint(change.room_ids) or \
            not self.staff.isdisjoint(change.staff_ids)

    def push(self, change: outbox.Change) -> None:
        if self.closed:
            return
        if len(self.pending) >= QUEUE_LIMIT:
            # A client this far behind reconnects and catches up from the table instead.
            self.close("overflow")
            return
        self.pending.append(change)
        self.wake.set()

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = reason
        self.wake.set()


def _in_db_thread(function: Callable, *args) -> Any:
    """Run ``function`` like a request would: stale or broken connections are dropped before
    and after (Django does that around each request; nothing does it for us here)."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


class Hub:
    """Tails the outbox for one stream process and fans the changes out to its subscribers."""

    def __init__(self) -> None:
        self.by_studio: dict[int, set[Subscriber]] = defaultdict(set)
        self.last_id = 0
        self.ready = False  # the outbox has been read once: last_id is meaningful
        self.started = False
        self.push_channels = 0  # live push subscriptions (LISTEN, Redis) right now
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None
        self._start_lock: asyncio.Lock | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.started:
                return
            self.loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._executor = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="live-db")
            # Not fatal when the database is not there yet (down, or not migrated): the tail
            # keeps trying, and streams answer 503 until it can read the outbox.
            with contextlib.suppress(Exception):
                self.last_id = await self.db(outbox.latest_id)
                self.ready = True
            self._tasks = [asyncio.create_task(self._tail(), name="live-tail"),
                           asyncio.create_task(self._prune(), name="live-prune")]
            from django.db import connections

            if connections["default"].vendor == "postgresql" and conf.pg_notify():
                self._tasks.append(asyncio.create_task(self._listen_postgres(),
                                                       name="live-listen-postgres"))
            if conf.redis_url():
                self._tasks.append(asyncio.create_task(self._listen_redis(conf.redis_url()),
                                                       name="live-listen-redis"))
            self.started = True

    def close_streams(self, reason: str = "shutdown") -> None:
        """End every open stream (clients reconnect, to this server restarted or another)."""
        for subscribers in list(self.by_studio.values()):
            for subscriber in list(subscribers):
                subscriber.close(reason)

    def close_streams_threadsafe(self) -> None:
        """``close_streams`` from a signal handler or another thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.close_streams)

    async def stop(self) -> None:
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        self.started = False

    async def db(self, function: Callable, *args) -> Any:
        # run_in_executor (not asyncio.to_thread): the thread must not inherit this task's
        # context, or Django would hand several threads one connection object.
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _in_db_thread, function, *args)

    # --- subscribers -------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> int:
        """Register ``subscriber``; returns the id it is covered from (every change after it
        will be pushed to it)."""
        self.by_studio[subscriber.studio_id].add(subscriber)
        return self.last_id

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self.by_studio.get(subscriber.studio_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.by_studio[subscriber.studio_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self.by_studio.values())

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def dispatch(self, changes: list[outbox.Change]) -> None:
        # No await in here: a stream that reads last_id sees every change up to it pushed.
        for change in changes:
            self.last_id = change.id
            for subscriber in self.by_studio.get(change.studio_id, ()):
                if subscriber.wants(change):
                    subscriber.push(change)

    # --- the tail and its wake-ups -----------------------------------------------------------

    async def _tail(self) -> None:
        failures = 0
        while True:
            if self.ready:
                interval = (conf.safety_poll_seconds() if self.push_channels
                            else conf.poll_seconds())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)
                self._wake.clear()
            try:
                if not self.ready:
                    self.last_id = await self.db(outbox.latest_id)
                    self.ready = True
                    if failures:
                        logger.warning("live availability: the outbox is readable again")
                    failures = 0
                    continue
                changes = await self.db(outbox.changes_after, self.last_id, READ_BATCH)
            except Exception as error:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    logger.warning("live availability: cannot read the outbox (%s: %s); "
                                   "retrying", type(error).__name__, error)
                await asyncio.sleep(min(5.0, 0.25 * failures))
                continue
            if failures:
                logger.warning("live availability: the outbox is readable again")
            failures = 0
            self.dispatch(changes)
            if len(changes) == READ_BATCH:
                self._wake.set()  # there is more

    async def _prune(self) -> None:
        from studiobook.live.publish import prune

        while True:
            await asyncio.sleep(PRUNE_EVERY_SECONDS)
            try:
                await self.db(prune)
            except Exception:
                logger.exception("live availability: pruning the outbox failed")

    async def _listen_postgres(self) -> None:
        import psycopg
        from django.db import connections

        params = connections["default"].get_connection_params()
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        autocommit=True, connect_timeout=5, **params) as listener:
                    await listener.execute(f"LISTEN {conf.NOTIFY_CHANNEL}")
                    self.push_channels += 1
                    delay = 0.5
                    try:
                        self.wake()  # rows committed while we were not listening
                        while True:
                            async for _ in listener.notifies(timeout=30):
                                self.wake()
                            await listener.execute("SELECT 1")  # is the connection alive?
                    finally:
                        self.push_channels -= 1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("live availability: LISTEN lost (%s); polling every %.2f s, "
                               "reconnecting in %.1f s", error, conf.poll_seconds(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen_redis(self, url: str) -> None:
        import redis.asyncio as aioredis

        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(url, socket_connect_timeout=5,
                                             health_check_interval=30)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(conf.REDIS_CHANNEL)
                    self.push_channels += 1
                    delay = 0.5
                    try:
                        self.wake()
                        while True:
                            message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                               timeout=30)
                            if message is not None:
                                self.wake()
                    finally:
                        self.push_channels -= 1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("live availability: Redis SUBSCRIBE lost (%s); reconnecting "
                               "in %.1f s", error, delay)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


# --- the ASGI application ---------------------------------------------------------------------

class BadRequest(Exception):
    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field, self.rule, self.message = field, rule, message


def _ids(query: dict[str, list[str]], name: str) -> frozenset[int]:
    ids = set()
    for value in query.get(name, ()):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                raise BadRequest(name, "integer", f"{name} must be whole numbers, got {part!r}")
            ids.add(int(part))
    if len(ids) > MAX_FILTER_IDS:
        raise BadRequest(name, "max_items", f"at most {MAX_FILTER_IDS} {name} values")
    return frozenset(ids)


def _last_event_id(headers: dict[bytes, bytes], query: dict[str, list[str]]) -> int | None:
    header = headers.get(b"last-event-id", b"").decode("latin-1").strip()
    if header:
        # What the browser sends back is what we sent it; anything else is ignored.
        return int(header) if header.isdigit() else None
    values = query.get("last_event_id")
    if values:
        value = values[-1].strip()
        if not value.isdigit():
            raise BadRequest("last_event_id", "integer", "last_event_id must be a whole number")
        return int(value)
    return None


class StreamApp:
    """The ASGI callable. ``hub`` is this process's outbox tail."""

    def __init__(self, hub: Hub | None = None):
        self.hub = hub or Hub()

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.hub.start()
                except Exception as error:
                    logger.exception("live availability: the stream server cannot start")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            body = json.dumps({"status": "ok" if self.hub.ready else "starting",
                               "streams": self.hub.subscriber_count,
                               "last_id": self.hub.last_id,
                               "push_channels": self.hub.push_channels}).encode()
            await _respond(send, 200, body, b"application/json")
            return
        match = STREAM_PATH.match(path)
        if match is None:
            await _problem(send, 404, "not_found", f"no such path: {path}")
            return
        if method == "OPTIONS":
            await _respond(send, 204, b"", None, PREFLIGHT_HEADERS)
            return
        if method != "GET":
            await _problem(send, 405, "method_not_allowed", f"{method} is not allowed here",
                           extra_headers=[(b"allow", b"GET, OPTIONS")])
            return
        try:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            rooms, staff = _ids(query, "room_id"), _ids(query, "staff_id")
            headers = dict(scope.get("headers", ()))
            last_event_id = _last_event_id(headers, query)
        except BadRequest as error:
            await _problem(send, 422, "validation_error", error.message,
                           errors=[{"field": error.field, "rule": error.rule,
                                    "message": error.message}])
            return
        studio_id, unavailable = None, False
        try:
            await self.hub.start()
            if self.hub.ready:  # else the database is down or not migrated: said in the log
                studio_id = await self.hub.db(outbox.studio_id_for, match["slug"])
            else:
                unavailable = True
        except Exception:
            logger.warning("live availability: cannot open a stream", exc_info=True)
            unavailable = True
        if unavailable:
            await _problem(send, 503, "unavailable", "the stream is unavailable; retry shortly",
                           extra_headers=[(b"retry-after", b"2")])
            return
        if studio_id is None:
            await _problem(send, 404, "not_found", f"studio '{match['slug']}' not found")
            return
        await self._stream(Subscriber(studio_id, rooms, staff), last_event_id, receive, send)

    async def _stream(self, subscriber: Subscriber, last_event_id: int | None,
                      receive, send) -> None:
        hub = self.hub
        sent_upto = hub.subscribe(subscriber)  # first, so nothing falls between the two reads
        watcher = asyncio.create_task(_watch_disconnect(receive, subscriber))
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": STREAM_HEADERS})
            opening = f"retry: {RETRY_MILLISECONDS}\n"
            if last_event_id is None:
                opening += f"id: {sent_upto}\n"
            else:
                sent_upto = last_event_id
            await _body(send, (opening + ": connected\n\n").encode())
            if last_event_id is not None:
                sent_upto = await self._catch_up(subscriber, last_event_id, send)
            heartbeat = conf.heartbeat_seconds()
            while True:
                try:
                    await asyncio.wait_for(subscriber.wake.wait(), timeout=heartbeat)
                except TimeoutError:
                    # Nothing pending: every change up to hub.last_id has been through us.
                    sent_upto = max(sent_upto, hub.last_id)
                    await _body(send, f": heartbeat\nid: {sent_upto}\n\n".encode())
                    continue
                subscriber.wake.clear()
                if subscriber.closed:
                    break
                chunks = []
                while subscriber.pending:
                    change = subscriber.pending.popleft()
                    if change.id > sent_upto:  # a catch-up may already have sent it
                        chunks.append(change.payload)
                        sent_upto = change.id
                if chunks:
                    await _body(send, b"".join(chunks))
        except OSError:
            pass  # the client went away mid-write (servers that raise rather than ignore)
        finally:
            hub.unsubscribe(subscriber)
            watcher.cancel()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _catch_up(self, subscriber: Subscriber, last_event_id: int, send) -> int:
        result = await self.hub.db(outbox.catch_up, subscriber.studio_id, last_event_id,
                                   CATCH_UP_LIMIT)
        if result.reset:
            await _body(send, outbox.sse("reset", {"reason": result.reset},
                                         result.newest_id))
            return result.newest_id
        sent_upto = last_event_id
        wanted = [c for c in result.changes if subscriber.wants(c)]
        if wanted:
            await _body(send, b"".join(c.payload for c in wanted))
            sent_upto = wanted[-1].id
        return sent_upto


async def _watch_disconnect(receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close("disconnect")
            return


async def _body(send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _respond(send, status: int, body: bytes, content_type: bytes | None,
                   headers: list | None = None) -> None:
    out = list(headers if headers is not None else CORS_HEADERS)
    if content_type:
        out.append((b"content-type", content_type))
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def _problem(send, status: int, code: str, detail: str, *, errors: list | None = None,
                   extra_headers: list | None = None) -> None:
    """An RFC 9457 problem, shaped like the API's (``api.problems``)."""
    from studiobook.api.problems import problem_body

    body = problem_body(status, detail, code=code, errors=errors)
    await _respond(send, status, json.dumps(body).encode(), b"application/problem+json",
                   [*CORS_HEADERS, *(extra_headers or [])])
