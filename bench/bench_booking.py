"""Booking throughput and contention through HTTP, on SQLite and on PostgreSQL.

Run:  uv run python bench/bench_booking.py          (about 1.5 minutes; --sqlite-only)

For each database (a fresh SQLite file; a throw-away PostgreSQL database ``sb_bench_<random>``
when ``--postgres-url`` / ``$STUDIOBOOK_BENCH_POSTGRES_URL`` / ``$DATABASE_URL`` /
postgres://postgres@127.0.0.1:5432/studiobook is reachable), migrated and seeded, served by
gunicorn (``--server WxT``, default 3x4) on loopback:

1. Throughput: ``--clients`` artists (one keep-alive connection each) book *different* free
   slots as fast as they can for ``--duration`` seconds (closed loop): POST /api/bookings for a
   2-hour room-only session; consecutive slots go round the studio's 4 rooms, so concurrent
   requests mostly want different rooms. Reports distinct successful bookings per second,
   latency, and any non-201 answer; afterwards checks in the database that there are exactly
   as many bookings as 201s and that no two allocations of a room overlap.
2. Contention: ``--rounds`` times, 50 artists whose connections are already open send
   POST /api/bookings for the same room and start at the same moment: reports how many
   succeeded (must be 1), the other answers, and the time from the send to the last answer.
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
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_http import Connection, HttpError, build_request, load_average, percentile  # noqa: E402
from tests.support.live import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    LiveServer,
    migrate,
    postgres_database,
    postgres_reachable,
    seed,
    server_errors,
)

ZONE = ZoneInfo("America/Toronto")
ARTISTS = 64
ROOMS = 4
SESSION_HOURS = 2

SEED_SCRIPT = f"""
import json
from datetime import time

from studiobook.accounts.models import ApiToken, User
from studiobook.studios.models import Membership, Room, ScheduleRule, Service, Studio

studio = Studio.objects.create(
    slug="bench", name="Bench Studio", time_zone="America/Toronto", currency="CAD",
    lead_time_minutes=0, horizon_days=365, max_active_holds=3, slot_grid_minutes=15,
    # Each client books many sessions unpaid: lift the per-artist unpaid limits.
    max_unpaid_bookings=100, max_unpaid_hours=744)
ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=[1, 2, 3, 4, 5, 6, 7],
                            start_time=time(0), end_time=time(23, 59))
rooms = [Room.objects.create(studio=studio, name=f"Room {{n}}", tags=["tracking"]).id
         for n in range({ROOMS})]
service = Service.objects.create(
    studio=studio, name="Rehearsal", default_duration_minutes=120, min_duration_minutes=60,
    max_duration_minutes=480, duration_step_minutes=60, base_price_minor=3000,
    requires_room=True, room_tags=["tracking"])
admin = User.objects.create_user(email="admin@bench.test", password=None, name="Admin")
Membership.objects.create(studio=studio, user=admin, role="admin")
artists = [ApiToken.issue(User.objects.create_user(
    email=f"artist{{n}}@bench.test", password=None, name=f"Artist {{n}}"))
    for n in range({ARTISTS})]
print(json.dumps({{"slug": studio.slug, "rooms": rooms, "service": service.id,
                  "artists": artists, "admin": ApiToken.issue(admin)}}))
"""

CHECK_SCRIPT = """
import json
from studiobook.bookings.models import Allocation, Booking

rows = list(Allocation.objects.filter(booking__isnull=False, is_blocking=True,
                                      room__isnull=False)
            .order_by("room_id", "start_at").values_list("room_id", "start_at", "end_at"))
overlaps = sum(1 for a, b in zip(rows, rows[1:]) if a[0] == b[0] and b[1] < a[2])
print(json.dumps({"bookings": Booking.objects.count(), "overlaps": overlaps}))
"""


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_slots(first_day_offset: int):
    """(room index, start) of disjoint 2-hour sessions: day by day, hour by hour, room by
    room, from local midnight ``first_day_offset`` days ahead."""
    today = datetime.now(ZONE).date()
    day = first_day_offset
    while True:
        date = today + timedelta(days=day)
        for hour in range(0, 23 - SESSION_HOURS + 1, SESSION_HOURS):
            start = utc_iso(datetime.combine(date, clock_time(hour), ZONE))
            for room in range(ROOMS):
                yield room, start
        day += 1


def booking_body(world: dict, room_index: int, start: str) -> bytes:
    return json.dumps({"studio": world["slug"], "service_id": world["service"],
                       "room_id": world["rooms"][room_index], "start_at": start,
                       "duration_min": 60 * SESSION_HOURS}).encode()


async def throughput(port: int, world: dict, clients: int, seconds: float) -> dict:
    slots = free_slots(2)
    outcomes: Counter = Counter()
    latencies: list[float] = []
    ok = 0
    start = time.monotonic()
    stop = start + seconds

    async def artist(token: str) -> None:
        nonlocal ok
        connection = Connection(port)
        try:
            while time.monotonic() < stop:
                room, slot_start = next(slots)
                raw = build_request("POST", "/api/bookings", port,
                                    booking_body(world, room, slot_start), token)
                sent = time.monotonic()
                try:
                    status, body = await asyncio.wait_for(connection.request(raw), 60)
                except (HttpError, TimeoutError, OSError) as error:
                    connection.close()
                    outcomes[type(error).__name__] += 1
                    continue
                if status == 201:
                    ok += 1
                    latencies.append(time.monotonic() - sent)
                else:
                    with contextlib.suppress(ValueError):
                        body = json.loads(body).get("code", body[:80])
                    outcomes[f"{status} {body}"] += 1
        finally:
            connection.close()

    await asyncio.gather(*(artist(token) for token in world["artists"][:clients]))
    elapsed = time.monotonic() - start
    return {"ok": ok, "seconds": elapsed, "rate": ok / elapsed, "other": dict(outcomes),
            "p50": percentile(latencies, 50) * 1000, "p95": percentile(latencies, 95) * 1000}


async def contention(port: int, world: dict, day_offset: int, artists: int = 50) -> dict:
    """``artists`` requests for one slot, sent at once on connections opened beforehand."""
    start = utc_iso(datetime.combine(datetime.now(ZONE).date() + timedelta(days=day_offset),
                                     clock_time(12), ZONE))
    body = booking_body(world, 0, start)
    connections = [Connection(port) for _ in range(artists)]
    try:
        warm = build_request("GET", f"/api/studios/{world['slug']}", port)
        await asyncio.gather(*(c.request(warm) for c in connections))
        requests = [build_request("POST", "/api/bookings", port, body, token)
                    for token in world["artists"][:artists]]
        sent = time.monotonic()
        answers = await asyncio.gather(*(asyncio.wait_for(c.request(raw), 60)
                                         for c, raw in zip(connections, requests, strict=True)),
                                       return_exceptions=True)
        elapsed = time.monotonic() - sent
    finally:
        for connection in connections:
            connection.close()
    outcomes: Counter = Counter()
    for answer in answers:
        if isinstance(answer, BaseException):
            outcomes[type(answer).__name__] += 1
        elif answer[0] == 201:
            outcomes["201"] += 1
        else:
            outcomes[f"{answer[0]} {json.loads(answer[1]).get('code')}"] += 1
    return {"seconds": elapsed, "outcomes": dict(outcomes)}


def run_backend(name: str, url: str, args) -> dict:
    migrate(url)
    world = seed(url, SEED_SCRIPT)
    with LiveServer(url, workers=args.workers, threads=args.threads) as server:
        result = asyncio.run(throughput(server.port, world, args.clients, args.duration))
        check = seed(url, CHECK_SCRIPT)
        rounds = [asyncio.run(contention(server.port, world, 300 + n))
                  for n in range(args.rounds)]
        errors = server_errors(server.log())
    result.update(name=name, check=check, rounds=rounds, server_errors=errors)
    return result


def report(results: list[dict], args) -> None:
    print(f"\nThroughput: {args.clients} artists booking different free slots, closed loop, "
          f"{args.duration:.0f} s, gunicorn -w {args.workers} -t {args.threads}")
    print(f"{'database':<11}{'bookings/s':>11}{'201s':>7}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'in DB':>7}{'overlaps':>9}  other answers")
    for r in results:
        print(f"{r['name']:<11}{r['rate']:>11.1f}{r['ok']:>7}{r['p50']:>8.1f}{r['p95']:>8.1f}"
              f"{r['check']['bookings']:>7}{r['check']['overlaps']:>9}  {r['other'] or 'none'}")
    print(f"\nContention: 50 artists, one room, one start, sent at once; {args.rounds} rounds")
    print(f"{'database':<11}{'successes':>10}{'median s':>10}{'max s':>7}  answers")
    for r in results:
        times = [x["seconds"] for x in r["rounds"]]
        wins = [x["outcomes"].get("201", 0) for x in r["rounds"]]
        answers = Counter()
        for x in r["rounds"]:
            answers.update(x["outcomes"])
        print(f"{r['name']:<11}{'/'.join(map(str, wins)):>10}{statistics.median(times):>10.2f}"
              f"{max(times):>7.2f}  {dict(answers)}")
    for r in results:
        if r["server_errors"]:
            print(f"\n{r['name']}: the server logged errors: {r['server_errors'][:5]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get(
        "STUDIOBOOK_BENCH_POSTGRES_URL", os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES_URL))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--server", default="3x4", help="gunicorn WORKERSxTHREADS (3x4)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.workers, args.threads = (int(v) for v in args.server.split("x"))
    if args.clients > ARTISTS:
        parser.error(f"at most {ARTISTS} clients")

    print(f"bench_booking  {datetime.now(UTC).isoformat(timespec='seconds')}  "
          f"os.cpu_count()={os.cpu_count()}  {load_average()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        results.append(run_backend("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args))
        print(f"SQLite done; {load_average()}", flush=True)
    postgres = args.postgres_url.startswith(("postgres://", "postgresql://"))
    if args.sqlite_only:
        pass
    elif postgres and postgres_reachable(args.postgres_url):
        with postgres_database(args.postgres_url, prefix="sb_bench_") as url:
            results.append(run_backend("PostgreSQL", url, args))
        print(f"PostgreSQL done; {load_average()}", flush=True)
    else:
        print(f"PostgreSQL skipped: not reachable at {args.postgres_url}")
    report(results, args)
    print(f"\nos.cpu_count()={os.cpu_count()}; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
