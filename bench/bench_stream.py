"""Live availability: do open streams starve the WSGI workers, and how fast is an event?

Run:  uv run python bench/bench_stream.py                 (SQLite, the embedded default)
      uv run python bench/bench_stream.py --postgres      (PostgreSQL: LISTEN/NOTIFY)
About a minute each; everything on loopback, every loop bounded in count and time.

1. A fresh database (a SQLite file, or a throw-away PostgreSQL database ``sb_bench_<random>``),
   migrated, one studio with a room. The real servers, as ``studiobook serve`` runs them:
   gunicorn (gthread, ``--workers`` x ``--threads``) and the stream server (uvicorn, one
   process), on free ports.
2. ``--rounds`` times: ``--clients`` closed-loop keep-alive clients GET /api/studios/{slug}
   from the WSGI server for ``--duration`` s with no stream open; then ``--streams`` SSE
   streams are opened the way a browser does (GET the WSGI URL, follow its 307 to the stream
   server) and the same load runs again while they stay open; then they are closed. Prints
   req/s, p50 and p99 of both, medians over the rounds.
3. With the streams open, ``--bookings`` bookings are made through the API, one every
   ``--gap`` s; for each, the time from sending the POST until each stream has the
   ``availability`` event is measured. Prints p50/p99/max over every (booking, stream) pair.
4. Prints the stream server's memory (RSS) and CPU time with and without the streams.

The load generator is a small asyncio HTTP/1.1 client (httpx would cost the 2-core machine
more CPU than the servers); idle SSE sockets cost it nothing between events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.live_availability.support import (  # noqa: E402
    stream_server,
)
from tests.support.live import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    LiveServer,
    migrate,
    postgres_database,
    postgres_reachable,
    seed,
    server_errors,
)

SEED = """
import json
from datetime import time

from studiobook.accounts.models import ApiToken, User
from studiobook.studios.models import Room, ScheduleRule, Service, Studio

studio = Studio.objects.create(slug="bench-stream", name="Bench Stream", time_zone="UTC",
                               lead_time_minutes=0, horizon_days=365, slot_grid_minutes=15)
ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=[1, 2, 3, 4, 5, 6, 7],
                            start_time=time(0), end_time=time(23, 59))
room = Room.objects.create(studio=studio, name="Room A", tags=["tracking"])
service = Service.objects.create(
    studio=studio, name="Tracking", default_duration_minutes=60, min_duration_minutes=60,
    max_duration_minutes=480, duration_step_minutes=60, price_unit="hour",
    base_price_minor=6000, requires_room=True, room_tags=["tracking"])
artist = User.objects.create_user(email="artist@bench.test", password=None, name="Ari")
print(json.dumps(dict(slug=studio.slug, room=room.id, service=service.id,
                      token=ApiToken.issue(artist))))
"""


# --- a minimal HTTP/1.1 client ------------------------------------------------------------------

async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


def request_bytes(method: str, path: str, port: int, body: bytes | None = None,
                  token: str | None = None, extra: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        status, headers = await asyncio.wait_for(read_head(self.reader), timeout)
        body = await asyncio.wait_for(
            self.reader.readexactly(int(headers.get("content-length", "0"))), timeout)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def closed_loop(port: int, raw: bytes, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal errors
        connection = Connection(port)
        try:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    status, _ = await connection.request(raw)
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    errors += 1
                    connection.close()
                    continue
                if status != 200:
                    errors += 1
                latencies.append(time.monotonic() - started)
        finally:
            connection.close()

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.monotonic() - began
    return {"rate": len(latencies) / elapsed, "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000, "errors": errors, "n": len(latencies)}


# --- SSE streams --------------------------------------------------------------------------------

class Stream:
    """One SSE stream opened like a browser: the WSGI URL, then its 307 Location."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}  # event id -> time.monotonic()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    async def open(self, web_port: int, path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", web_port)
        writer.write(request_bytes("GET", path, web_port, extra="Connection: close"))
        status, headers = await read_head(reader)
        writer.close()
        if status != 307:
            raise RuntimeError(f"expected a 307 from the WSGI server, got {status}")
        location = headers["location"].split("//", 1)[1]
        hostport, _, stream_path = location.partition("/")
        host, _, port = hostport.rpartition(":")
        reader, self.writer = await asyncio.open_connection(host, int(port))
        self.writer.write(request_bytes("GET", "/" + stream_path, int(port),
                                        extra="Accept: text/event-stream"))
        status, headers = await read_head(reader)
        if status != 200 or headers.get("transfer-encoding") != "chunked":
            raise RuntimeError(f"stream answered {status} {headers}")
        self.task = asyncio.create_task(self._read(reader))
        await asyncio.wait_for(self.connected.wait(), 30)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                buffer += (await reader.readexactly(size + 2))[:-2]
                now = time.monotonic()
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    if b": connected" in block:
                        self.connected.set()
                    for line in block.split(b"\n"):
                        if line.startswith(b"data: ") and b"event: availability" in block:
                            self.arrivals[json.loads(line[6:])["id"]] = now

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


async def open_streams(count: int, web_port: int, path: str) -> list[Stream]:
    streams = [Stream() for _ in range(count)]
    batch = 25  # a browser-like trickle, not a SYN flood
    for start in range(0, count, batch):
        await asyncio.gather(*(s.open(web_port, path) for s in streams[start:start + batch]))
    return streams


async def close_streams(streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()
    await asyncio.sleep(0.5)


async def deliveries(streams: list[Stream], web_port: int, world: dict, bookings: int,
                     gap: float, day_offset: int) -> tuple[list[float], list[float]]:
    latencies, answered = [], []
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for n in range(bookings):
        start = base + timedelta(days=day_offset + n // 20, hours=1 + n % 20)
        body = json.dumps({"studio": world["slug"], "service_id": world["service"],
                           "room_id": world["room"], "duration_min": 60,
                           "start_at": start.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
        connection = Connection(web_port)  # a new one each time: keep-alive is 2 s
        seen_before = [set(s.arrivals) for s in streams]  # (events may beat the answer)
        sent = time.monotonic()
        status, reply = await connection.request(request_bytes(
            "POST", "/api/bookings", web_port, body, token=world["token"]))
        connection.close()
        answered.append(time.monotonic() - sent)
        if status != 201:
            raise RuntimeError(f"booking failed: {status} {reply[:300]!r}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(len(s.arrivals) > len(before) for s, before in zip(streams, seen_before,
                                                                          strict=True)):
                break
            await asyncio.sleep(0.005)
        for stream, before in zip(streams, seen_before, strict=True):
            new = set(stream.arrivals) - before
            if not new:
                latencies.append(float("inf"))
            else:
                latencies.append(stream.arrivals[max(new)] - sent)
        await asyncio.sleep(gap)
    return latencies, answered


# --- the stream process's footprint ---------------------------------------------------------------

def process_figures(pid: int) -> tuple[float, float]:
    """(RSS in MiB, CPU seconds) of ``pid``, from /proc (Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kib = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("VmRSS:")))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return rss_kib / 1024, (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, StopIteration, ValueError):
        return float("nan"), float("nan")


# --- main -----------------------------------------------------------------------------------------

@contextlib.contextmanager
def database(postgres: bool, postgres_url: str):
    if postgres:
        if not postgres_reachable(postgres_url):
            raise SystemExit(f"PostgreSQL is not reachable at {postgres_url}")
        with postgres_database(postgres_url, prefix="sb_bench_") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="sb-bench-stream-") as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"


async def run(args, web: LiveServer, stream, world: dict) -> None:
    path = f"/api/studios/{world['slug']}"
    raw = request_bytes("GET", path, web.port)
    stream_path = f"/api/studios/{world['slug']}/availability/stream"
    await closed_loop(web.port, raw, args.clients, 1.5)  # warm-up
    without, with_streams, footprints = [], [], []
    streams: list[Stream] = []
    for _ in range(args.rounds):
        rss0, cpu0 = process_figures(stream.process.pid)
        without.append(await closed_loop(web.port, raw, args.clients, args.duration))
        cpu_idle0 = process_figures(stream.process.pid)[1]
        opened = time.monotonic()
        streams = await open_streams(args.streams, web.port, stream_path)
        open_seconds = time.monotonic() - opened
        await asyncio.sleep(0.5)
        rss1, cpu1 = process_figures(stream.process.pid)
        with_streams.append(await closed_loop(web.port, raw, args.clients, args.duration))
        rss2, cpu2 = process_figures(stream.process.pid)
        health = stream.health()
        footprints.append(dict(rss0=rss0, rss1=rss1, cpu_idle=cpu_idle0 - cpu0,
                               cpu_streams=cpu2 - cpu1, open_seconds=open_seconds,
                               streams=health["streams"]))
        if _ < args.rounds - 1:
            await close_streams(streams)
            streams = []

    latencies, answered = await deliveries(streams, web.port, world, args.bookings, args.gap,
                                           day_offset=3)
    await close_streams(streams)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    print(f"\nGET {path} on gunicorn ({args.workers} workers x {args.threads} threads), "
          f"{args.clients} closed-loop clients, {args.duration:.0f} s x {args.rounds} rounds "
          f"(medians):")
    print(f"  {'':<28}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for label, rows in (("no stream open", without),
                        (f"{args.streams} streams open", with_streams)):
        print(f"  {label:<28}{med(rows, 'rate'):>8.0f}{med(rows, 'p50'):>9.2f}"
              f"{med(rows, 'p99'):>9.2f}{sum(r['errors'] for r in rows):>8}")
    print("  per round (p50/p99 ms): " + "; ".join(
        f"{a['p50']:.1f}/{a['p99']:.1f} vs {b['p50']:.1f}/{b['p99']:.1f}"
        for a, b in zip(without, with_streams, strict=True)))
    f = footprints[0]  # the first round: nothing allocated by earlier streams
    print(f"\nStream server (one uvicorn process): {f['streams']} streams open (opened in "
          f"{f['open_seconds']:.2f} s through the 307); RSS {f['rss0']:.1f} MiB before, "
          f"{f['rss1']:.1f} MiB with them ({(f['rss1'] - f['rss0']) * 1024 / args.streams:.1f}"
          f" KiB per stream); CPU {f['cpu_idle']:.2f} s during a {args.duration:.0f} s phase "
          f"without streams, {f['cpu_streams']:.2f} s with them")
    done = [x for x in latencies if x != float("inf")]
    missing = len(latencies) - len(done)
    print(f"\nEvent delivery ({args.bookings} bookings x {args.streams} streams, from sending "
          f"the POST; signal: {'LISTEN/NOTIFY' if args.postgres else 'poll every 250 ms'}):")
    print(f"  p50 {percentile(done, 50) * 1000:.0f} ms, p99 {percentile(done, 99) * 1000:.0f} "
          f"ms, max {max(done) * 1000:.0f} ms, missing {missing}; the booking POST itself "
          f"answered in p50 {percentile(answered, 50) * 1000:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "STUDIOBOOK_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bookings", type=int, default=10)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: `studiobook serve`'s)")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if args.workers is None:
        args.workers = min(2 * (os.cpu_count() or 1) + 1, 8)
    args.streams = max(1, min(args.streams, 2000))
    args.bookings = max(1, min(args.bookings, 100))
    print(f"os.cpu_count() = {os.cpu_count()}; database: "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; loopback only")
    with database(args.postgres, args.postgres_url) as url:
        migrate(url)
        world = seed(url, SEED)
        with stream_server(url) as stream, \
                LiveServer(url, workers=args.workers, threads=args.threads,
                           env={"STUDIOBOOK_STREAM_URL": stream.url}) as web:
            asyncio.run(asyncio.wait_for(run(args, web, stream, world), timeout=600))
            errors = server_errors(web.log())
            if errors or "Traceback" in stream.log():
                print("\nserver errors:\n" + "\n".join(errors) + stream.log()[-4000:])
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
