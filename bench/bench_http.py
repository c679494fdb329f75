"""HTTP benchmark of the production server (gunicorn gthread + Django + PostgreSQL).

Run:  uv run python bench/bench_http.py            (about 4 minutes; --quick: about 1.5)

Needs a reachable PostgreSQL (``--postgres-url``, else ``$STUDIOBOOK_BENCH_POSTGRES_URL``,
``$DATABASE_URL`` or postgres://postgres@127.0.0.1:5432/studiobook); it creates a throw-away
database ``sb_bench_<random>`` there and drops it at the end. Everything is on loopback.

1. Seeds a realistic studio in America/Toronto: 3 rooms, 4 engineers with their own hours,
   4 services, buffers, a maintenance blackout, and 200 bookings spread over the next month,
   made through ``bookings.services.create_booking`` (admin actor, source "admin").
2. For each gunicorn configuration (``-w W -k gthread --threads T``), closed-loop saturation
   for ``--duration`` seconds with ``--clients`` concurrent keep-alive clients:
   POST /api/studios/{slug}/availability/search (one local day, a service needing a room and
   an engineer, the day cycling over the month) and GET /api/studios/{slug} (a trivial JSON
   endpoint). Reports req/s of both and their ratio; the best configuration is kept.
3. Open model on the best configuration: ``--rate`` requests per second offered on a fixed
   timetable for ``--open-duration`` seconds, independent of the answers. A request's latency
   is measured from its *scheduled* time, so time spent queueing (in the client's connection
   pool or in the server) counts and there is no coordinated omission. Reports the achieved
   rate, p50/p95/p99/max latency and errors (non-2xx, timeouts, and requests still unanswered
   ``--drain`` seconds after the timetable ended), for the search and the trivial endpoint.

The load generator is a small HTTP/1.1 keep-alive client on asyncio streams (httpx costs
several times more CPU per request, and on a 2-core machine the generator competes with the
server). Its own CPU use and how late it sent requests are printed, so a saturated generator
shows: "gen CPU" near 100 % of a core or a large "send lag" means the generator, not the
server, limited the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.live import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    LiveServer,
    migrate,
    postgres_database,
    postgres_reachable,
    seed,
    server_errors,
)

# --- a minimal HTTP/1.1 client ------------------------------------------------------------------


class HttpError(Exception):
    pass


def build_request(method: str, path: str, port: int, body: bytes | None = None,
                  token: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: */*"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Connection:
    """One keep-alive connection; ``request`` sends raw bytes and returns (status, body)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.used = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.writer is None:
                await self.open()
            reused = self.used
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                # The server closed an idle keep-alive connection before reading this
                # request: nothing was processed, so one retry on a new connection is safe.
                self.close()
                if reused and attempt == 1 and (
                        not isinstance(error, asyncio.IncompleteReadError)
                        or not error.partial):
                    continue
                raise HttpError(f"connection failed: {error!r}") from error
            self.used = True
            return await self._finish(head)
        raise AssertionError("unreachable")

    async def _finish(self, head: bytes) -> tuple[int, bytes]:
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body


class Pool:
    """Up to ``size`` connections; ``acquire`` waits when all are busy (that wait is part of
    the measured latency in the open model)."""

    def __init__(self, port: int, size: int):
        self.port, self.size = port, size
        self.idle: list[Connection] = []
        self.count = 0
        self.available = asyncio.Condition()

    async def acquire(self) -> Connection:
        async with self.available:
            while not self.idle and self.count >= self.size:
                await self.available.wait()
            if self.idle:
                return self.idle.pop()
            self.count += 1
        return Connection(self.port)

    async def release(self, connection: Connection) -> None:
        async with self.available:
            self.idle.append(connection)
            self.available.notify()

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


# --- statistics ---------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    ok: int = 0
    errors: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    lags: list[float] = field(default_factory=list)  # open model: send time - scheduled
    cpu: float = 0.0  # generator CPU seconds
    offered: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.seconds if self.seconds else 0.0


# --- load models --------------------------------------------------------------------------------

async def closed_loop(port: int, requests: list[bytes], clients: int, seconds: float,
                      name: str, warmup: float = 1.0) -> Result:
    """``clients`` keep-alive clients, each sending its next request as soon as the previous
    one is answered, for ``warmup`` (discarded) then ``seconds``."""
    result = Result(name)
    counter = iter(range(10**9))
    start = time.monotonic()
    measure_from = start + warmup
    stop = measure_from + seconds

    async def client() -> None:
        connection = Connection(port)
        try:
            while (now := time.monotonic()) < stop:
                raw = requests[next(counter) % len(requests)]
                try:
                    status, _ = await asyncio.wait_for(connection.request(raw), 30)
                except (HttpError, TimeoutError, OSError) as error:
                    connection.close()
                    if now >= measure_from:
                        result.error(type(error).__name__)
                    continue
                done = time.monotonic()
                if now >= measure_from and done <= stop:
                    if 200 <= status < 300:
                        result.ok += 1
                        result.latencies.append(done - now)
                    else:
                        result.error(f"http {status}")
        finally:
            connection.close()

    cpu = time.process_time()
    await asyncio.sleep(0)
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = seconds
    result.cpu = (time.process_time() - cpu) * seconds / (time.monotonic() - start)
    return result


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float, name: str,
                    pool_size: int = 128, timeout: float = 30.0, drain: float = 30.0) -> Result:
    """``rate`` requests per second on a fixed timetable for ``seconds``; each latency runs
    from the scheduled instant to the end of the answer."""
    result = Result(name)
    pool = Pool(port, pool_size)
    total = int(rate * seconds)
    result.offered = total
    tasks: list[asyncio.Task] = []
    finished_at: list[float] = []

    async def one(index: int, scheduled: float) -> None:
        # How late the generator itself started this request (its scheduling lag); waiting
        # for a free connection after this is queueing caused by the server.
        result.lags.append(time.monotonic() - scheduled)
        raw = requests[index % len(requests)]

        async def attempt() -> int:
            connection = await pool.acquire()
            try:
                status, _ = await connection.request(raw)
            except BaseException:
                connection.close()
                await pool.release(connection)
                raise
            await pool.release(connection)
            return status

        try:
            remaining = timeout - (time.monotonic() - scheduled)
            status = await asyncio.wait_for(attempt(), max(0.001, remaining))
        except TimeoutError:
            result.error("timeout")
            return
        except (HttpError, OSError) as error:
            result.error(type(error).__name__)
            return
        done = time.monotonic()
        finished_at.append(done)
        if 200 <= status < 300:
            result.ok += 1
            result.latencies.append(done - scheduled)
        else:
            result.error(f"http {status}")

    cpu = time.process_time()
    start = time.monotonic() + 0.05
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    end_of_timetable = start + total / rate
    _, pending = await asyncio.wait(tasks, timeout=max(0.1, end_of_timetable + drain
                                                            - time.monotonic()))
    for task in pending:
        task.cancel()
        result.error("unanswered at the end")
    await asyncio.gather(*pending, return_exceptions=True)
    last = max(finished_at, default=end_of_timetable)
    result.seconds = max(last, end_of_timetable) - start
    result.cpu = time.process_time() - cpu
    pool.close()
    return result


# --- the world ----------------------------------------------------------------------------------

SEED_SCRIPT = r"""
import json
import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from studiobook.accounts.models import ApiToken, User
from studiobook.bookings import services
from studiobook.studios.errors import DomainError
from studiobook.studios.models import (
    Blackout, BufferRule, Membership, Room, ScheduleRule, Service, StaffMember, Studio)

rng = random.Random(20260302)
zone = ZoneInfo("America/Toronto")
studio = Studio.objects.create(
    slug="northside", name="Northside Sound", time_zone="America/Toronto", currency="CAD",
    city="Toronto", lead_time_minutes=120, horizon_days=90, slot_grid_minutes=15,
    max_active_holds=3, hold_minutes=10)
ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=[1, 2, 3, 4, 5, 6],
                            start_time=time(9), end_time=time(23))
ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=[7],
                            start_time=time(12), end_time=time(20))
admin = User.objects.create_user(email="admin@northside.test", password=None, name="Ada Admin")
Membership.objects.create(studio=studio, user=admin, role="admin")

room_a = Room.objects.create(studio=studio, name="Studio A", tags=["tracking", "vocal"],
                             capacity=8)
room_b = Room.objects.create(studio=studio, name="Studio B", tags=["tracking"], capacity=4)
room_c = Room.objects.create(studio=studio, name="Mix Room", tags=["mixing", "vocal"],
                             capacity=2)
BufferRule.objects.create(studio=studio, scope="room", room=room_a, after_minutes=15)

engineers = []
for n, (name, skills, rules) in enumerate([
    ("Eve", ["recording", "mixing"], [([1, 2, 3, 4, 5], time(9), time(17))]),
    ("Sam", ["recording"], [([1, 2, 3, 4, 5], time(14), time(23))]),
    ("Lou", ["recording", "mixing"], [([5, 6], time(10), time(22)), ([7], time(12), time(20))]),
    ("Kai", ["mixing"], []),
]):
    user = User.objects.create_user(email=f"{name.lower()}@northside.test", password=None,
                                    name=name)
    Membership.objects.create(studio=studio, user=user, role="staff")
    staff = StaffMember.objects.create(studio=studio, user=user, display_name=name,
                                       skills=skills, hourly_rate_minor=3000 + 500 * n)
    for weekdays, start, end in rules:
        ScheduleRule.objects.create(studio=studio, target_type="staff", staff=staff,
                                    weekdays=weekdays, start_time=start, end_time=end)
    engineers.append(staff)
BufferRule.objects.create(studio=studio, scope="staff", staff=engineers[0], before_minutes=10)

common = dict(min_duration_minutes=60, max_duration_minutes=480, duration_step_minutes=60)
recording = Service.objects.create(
    studio=studio, name="Recording session", default_duration_minutes=120,
    base_price_minor=6000, requires_room=True, room_tags=["tracking"],
    requires_engineer=True, staff_skill_required="recording", deposit_percent=25, **common)
mixing = Service.objects.create(
    studio=studio, name="Mixing", default_duration_minutes=240, base_price_minor=5000,
    requires_room=True, room_tags=["mixing"], requires_engineer=True,
    staff_skill_required="mixing", **common)
rehearsal = Service.objects.create(
    studio=studio, name="Rehearsal", default_duration_minutes=120, base_price_minor=3000,
    requires_room=True, room_tags=["tracking"], **common)
podcast = Service.objects.create(
    studio=studio, name="Podcast hour", default_duration_minutes=60, base_price_minor=4500,
    price_unit="session", requires_room=True, room_tags=["vocal"],
    min_duration_minutes=60, max_duration_minutes=120, duration_step_minutes=60)
BufferRule.objects.create(studio=studio, scope="service", service=recording, after_minutes=15)

today = datetime.now(zone).date()
first_day = today + timedelta(days=1)
days = [first_day + timedelta(days=d) for d in range(31)]
maintenance = datetime.combine(days[10], time(9), zone)
Blackout.objects.create(studio=studio, target_type="room", room=room_c,
                        start_at=maintenance, end_at=maintenance + timedelta(hours=8),
                        reason="console maintenance")

made, attempts = 0, 0
choices = [recording] * 5 + [mixing] * 2 + [rehearsal] * 2 + [podcast]
while made < 200 and attempts < 20000:
    attempts += 1
    service = rng.choice(choices)
    day = rng.choice(days)
    local = datetime.combine(day, time(9), zone) + timedelta(minutes=15 * rng.randrange(0, 52))
    duration = 60 * rng.choice([1, 2, 2, 3, 4]) if service != podcast else 60
    try:
        services.create_booking(actor=admin, studio=studio, service=service,
                                start_at=local.astimezone(UTC),
                                duration_minutes=duration, source="admin")
    except DomainError:
        continue
    made += 1

artist = User.objects.create_user(email="artist@example.test", password=None, name="Ari")
print(json.dumps({
    "slug": studio.slug, "recording": recording.id, "bookings": made, "attempts": attempts,
    "days": [d.isoformat() for d in days], "artist": ApiToken.issue(artist),
}))
"""


def search_requests(port: int, world: dict) -> list[bytes]:
    path = f"/api/studios/{world['slug']}/availability/search"
    return [build_request("POST", path, port, json.dumps(
        {"date": day, "duration_min": 120, "service_id": world["recording"]}).encode())
        for day in world["days"]]


def trivial_requests(port: int, world: dict) -> list[bytes]:
    return [build_request("GET", f"/api/studios/{world['slug']}", port)]


# --- reporting ----------------------------------------------------------------------------------

def fmt_errors(results: list[Result]) -> str:
    errors: dict[str, int] = {}
    for result in results:
        for kind, count in result.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "0"


def median_rate(results: list[Result]) -> float:
    return statistics.median(r.rate for r in results)


def spread(results: list[Result]) -> str:
    rates = [r.rate for r in results]
    return f"{min(rates):.0f}-{max(rates):.0f}"


def median_p50(results: list[Result]) -> float:
    return statistics.median(r.ms(50) for r in results)


def print_saturation(rows: list[tuple[str, list[Result], list[Result]]], clients: int,
                     seconds: float) -> None:
    print(f"\nSaturation: closed loop, {clients} keep-alive clients, {seconds:.0f} s per run; "
          f"median of {len(rows[0][1])} runs (min-max)")
    print(f"{'server':<11}{'search req/s':>13}{'(min-max)':>11}{'p50 ms':>8}"
          f"{'studio req/s':>14}{'(min-max)':>11}{'p50 ms':>8}{'ratio':>7}{'gen CPU':>9}"
          f"  errors")
    for config, search, trivial in rows:
        ratio = median_rate(search) / median_rate(trivial)
        cpu = max(r.cpu_share for r in search + trivial)
        print(f"{config:<11}{median_rate(search):>13.1f}{spread(search):>11}"
              f"{median_p50(search):>8.1f}{median_rate(trivial):>14.1f}{spread(trivial):>11}"
              f"{median_p50(trivial):>8.1f}{ratio:>7.3f}{cpu:>8.0%}"
              f"  {fmt_errors(search + trivial)}")


def print_open(config: str, results: list[tuple[float, Result]]) -> None:
    print(f"\nOpen model: fixed timetable, latency from the scheduled instant; server {config}")
    print(f"{'endpoint':<9}{'offered/s':>10}{'sent':>6}{'ok':>6}{'achieved/s':>11}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lag p99':>9}{'gen CPU':>9}  errors")
    for rate, r in results:
        print(f"{r.name:<9}{rate:>10.0f}{r.offered:>6}{r.ok:>6}{r.rate:>11.1f}{r.ms(50):>9.1f}"
              f"{r.ms(95):>9.1f}{r.ms(99):>9.1f}{r.ms(100):>9.1f}"
              f"{percentile(r.lags, 99) * 1000:>7.1f}ms{r.cpu_share:>8.0%}  {fmt_errors([r])}")


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


# --- main ---------------------------------------------------------------------------------------

def parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for item in text.split(","):
        workers, _, threads = item.strip().partition("x")
        configs.append((int(workers), int(threads)))
    return configs


async def check_endpoints(port: int, world: dict) -> str:
    """Every day's search and the studio GET once: fail loudly unless all answer 200."""
    connection = Connection(port)
    try:
        slots = []
        for raw in search_requests(port, world):
            status, body = await connection.request(raw)
            if status != 200:
                raise SystemExit(f"search answered {status}: {body[:300]!r}")
            slots.append(len(json.loads(body)["slots"]))
        status, body = await connection.request(trivial_requests(port, world)[0])
        if status != 200:
            raise SystemExit(f"GET studio answered {status}: {body[:300]!r}")
        return (f"one-day searches answer {min(slots)}-{max(slots)} slots "
                f"(median {statistics.median(slots):.0f}) over {len(slots)} days")
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get(
        "STUDIOBOOK_BENCH_POSTGRES_URL", os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES_URL))
    parser.add_argument("--configs", default="2x4,3x4,4x4",
                        help="gunicorn WORKERSxTHREADS, comma separated (default 2x4,3x4,4x4)")
    parser.add_argument("--clients", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per closed-loop run (after a 1 s warm-up)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="closed-loop runs per endpoint and configuration (median kept)")
    parser.add_argument("--rate", type=float, default=500.0, help="open-model req/s offered")
    parser.add_argument("--open-duration", type=float, default=15.0)
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds to wait for answers after the timetable ends")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="open model: a request unanswered this long after its "
                             "scheduled instant is an error")
    parser.add_argument("--quick", action="store_true",
                        help="one configuration, one 4 s run each, 6 s open model")
    args = parser.parse_args()
    if args.quick:
        args.configs, args.duration, args.repeats, args.open_duration = "3x4", 4.0, 1, 6.0

    if not args.postgres_url.startswith(("postgres://", "postgresql://")):
        print(f"bench_http needs PostgreSQL; {args.postgres_url!r} is not a PostgreSQL URL")
        return 2
    if not postgres_reachable(args.postgres_url):
        print(f"bench_http needs a reachable PostgreSQL; none at {args.postgres_url} "
              f"(set --postgres-url or STUDIOBOOK_BENCH_POSTGRES_URL)")
        return 2

    print(f"bench_http  {datetime.now(UTC).isoformat(timespec='seconds')}  "
          f"os.cpu_count()={os.cpu_count()}  python {sys.version.split()[0]}  "
          f"{load_average()}", flush=True)
    with postgres_database(args.postgres_url, prefix="sb_bench_") as url:
        started = time.monotonic()
        migrate(url)
        world = seed(url, SEED_SCRIPT)
        print(f"database {url.rsplit('/', 1)[1]}: migrated and seeded in "
              f"{time.monotonic() - started:.1f} s ({world['bookings']} bookings over "
              f"{len(world['days'])} days)", flush=True)

        rows = []
        for workers, threads in parse_configs(args.configs):
            config = f"-w {workers} -t {threads}"
            search: list[Result] = []
            trivial: list[Result] = []
            with LiveServer(url, workers=workers, threads=threads) as server:
                port = server.port
                print(f"{config}: {asyncio.run(check_endpoints(port, world))}", flush=True)
                for _ in range(args.repeats):  # interleaved, so drift hits both alike
                    search.append(asyncio.run(closed_loop(
                        port, search_requests(port, world), args.clients, args.duration,
                        "search")))
                    trivial.append(asyncio.run(closed_loop(
                        port, trivial_requests(port, world), args.clients, args.duration,
                        "studio")))
                errors = server_errors(server.log())
            rows.append((config, search, trivial))
            print(f"{config}: search {[round(r.rate) for r in search]} req/s, "
                  f"studio {[round(r.rate) for r in trivial]} req/s; {load_average()}"
                  + (f"; SERVER ERRORS: {errors[:3]}" if errors else ""), flush=True)
        print_saturation(rows, args.clients, args.duration)

        best_config, best_search, _ = max(rows, key=lambda row: median_rate(row[1]))
        workers, threads = (int(v) for v in best_config.split()[1::2])
        # 500 req/s (or --rate) on both endpoints, then the search at half its saturation
        # throughput: the latency a lightly loaded server gives.
        half = max(1.0, round(median_rate(best_search) / 2))
        plans = [("studio", trivial_requests, args.rate), ("search", search_requests, args.rate),
                 ("search", search_requests, half)]
        open_results = []
        for name, make, rate in plans:
            # A fresh server each time: an overloaded one keeps working through its backlog
            # after the client gave up, which would spoil the next measurement.
            with LiveServer(url, workers=workers, threads=threads) as server:
                result = asyncio.run(open_loop(server.port, make(server.port, world), rate,
                                               args.open_duration, name,
                                               timeout=args.timeout, drain=args.drain))
                errors = server_errors(server.log())
            open_results.append((rate, result))
            print(f"open model {name} at {rate:.0f}/s: {result.ok}/{result.offered} ok; "
                  f"{load_average()}" + (f"; SERVER ERRORS: {errors[:3]}" if errors else ""),
                  flush=True)
        print_open(best_config, open_results)
    print(f"\nos.cpu_count()={os.cpu_count()}; {load_average()}. The generator is one asyncio "
          f"process on the same machine: 'gen CPU' is its CPU time / wall time (100% = one "
          f"core), 'lag p99' how late it started requests against the timetable.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
