"""Benchmark of studiobook.scheduling.find_slots (the booking hot path).

Run:  python bench/bench_engine.py      (adds ../src to sys.path itself)

Fixed-seed dataset: 3 rooms, 4 engineers with different hours, 200 existing
bookings (already widened by buffers) spread over a month, a studio holiday
blackout and a room maintenance blackout.  Times find_slots for a 7-day and a
31-day range (15-minute grid, 2-hour sessions, service needing a room and an
engineer), pinned to one core when the OS allows it.  "warm" keeps the
process-wide local-time resolution cache (the steady state of a server
process); "cold" clears it before every call.
Targets: 7-day median < 10 ms, 31-day median < 40 ms.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time as _time
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from studiobook.scheduling import (  # noqa: E402
    Interval,
    PriceRule,
    ResourceInput,
    SlotQuery,
    WeeklyRule,
    allocation_span,
    find_slots,
)
from studiobook.scheduling._time import resolve_local  # noqa: E402

UTC = UTC
ZONE = "America/Toronto"
MONTH_START = datetime(
    2026, 3, 2, 5, 0, tzinfo=UTC
)  # Monday 00:00 local; the month spans the DST change
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
ALL_DAYS = frozenset(range(1, 8))


def build_dataset(seed: int = 20260302) -> dict:
    rng = random.Random(seed)
    studio_rules = (
        WeeklyRule(frozenset({1, 2, 3, 4, 5, 6}), time(9), time(23)),
        WeeklyRule(frozenset({7}), time(12), time(20)),
    )
    engineer_rules = {
        101: (WeeklyRule(WEEKDAYS, time(9), time(17)),),
        102: (WeeklyRule(frozenset({2, 3, 4, 5, 6}), time(12), time(22)),),
        103: None,  # follows the studio
        104: (
            WeeklyRule(frozenset({5, 6}), time(18), time(2)),
            WeeklyRule(frozenset({1, 3}), time(10), time(16)),
        ),
    }
    room_rules = {1: None, 2: (WeeklyRule(ALL_DAYS, time(10), time(22)),), 3: None}
    busy: dict[tuple[str, int], list[Interval]] = {("room", r): [] for r in room_rules}
    busy.update({("engineer", e): [] for e in engineer_rules})
    for n in range(200):
        day = rng.randrange(31)
        hour = rng.randrange(9, 21)
        start = MONTH_START + timedelta(days=day, hours=hour, minutes=rng.choice((0, 15, 30, 45)))
        end = start + timedelta(minutes=rng.choice((60, 90, 120, 180, 240)))
        span = allocation_span(start, end, 15, 15, label=f"booking SB-{n:05d}")
        busy[("room", rng.choice(list(room_rules)))].append(span)
        busy[("engineer", rng.choice(list(engineer_rules)))].append(span)
    rooms = tuple(
        ResourceInput(
            r,
            rules,
            blackouts=(
                (
                    Interval(
                        MONTH_START + timedelta(days=9, hours=4),
                        MONTH_START + timedelta(days=9, hours=10),
                        "maintenance",
                    ),
                )
                if r == 2
                else ()
            ),
            busy=tuple(sorted(busy[("room", r)], key=lambda i: i.start)),
            buffer_after_minutes=10 if r == 3 else 0,
        )
        for r, rules in room_rules.items()
    )
    engineers = tuple(
        ResourceInput(
            e,
            rules,
            busy=tuple(sorted(busy[("engineer", e)], key=lambda i: i.start)),
            buffer_before_minutes=5,
        )
        for e, rules in engineer_rules.items()
    )
    holiday = Interval(
        MONTH_START + timedelta(days=14), MONTH_START + timedelta(days=15), "blackout: Holiday"
    )
    return {
        "studio_rules": studio_rules,
        "rooms": rooms,
        "engineers": engineers,
        "blackouts": (holiday,),
    }


def make_query(data: dict, days: int) -> SlotQuery:
    return SlotQuery(
        zone=ZONE,
        range_start=MONTH_START,
        range_end=MONTH_START + timedelta(days=days),
        now=MONTH_START - timedelta(hours=3, microseconds=123),
        duration_minutes=120,
        studio_rules=data["studio_rules"],
        studio_blackouts=data["blackouts"],
        rooms=data["rooms"],
        engineers=data["engineers"],
        grid_minutes=15,
        lead_time_minutes=120,
        horizon_days=60,
        buffer_before_minutes=15,
        buffer_after_minutes=15,
        price=PriceRule("hour", 4500),
    )


def measure(query: SlotQuery, repeats: int, cold: bool) -> tuple[list[float], int]:
    find_slots(query)  # warm-up: imports, zone load
    samples = []
    count = 0
    for _ in range(repeats):
        if cold:
            resolve_local.cache_clear()
        t0 = _time.perf_counter()
        count = len(find_slots(query))
        samples.append((_time.perf_counter() - t0) * 1000.0)
    return samples, count


def main() -> None:
    pinned = False
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})
            pinned = True
        except OSError:
            pass
    print(f"cpu_count={os.cpu_count()} pinned_to_core0={pinned} python={sys.version.split()[0]}")
    data = build_dataset()
    total_busy = sum(len(r.busy) for r in data["rooms"])
    print(
        f"dataset: 3 rooms, 4 engineers, {total_busy} bookings "
        f"(each busy on a room and an engineer), zone {ZONE}"
    )
    for days, repeats, target in ((7, 300, 10.0), (31, 100, 40.0)):
        query = make_query(data, days)
        for cold in (False, True):
            samples, count = measure(query, repeats, cold)
            samples.sort()
            median = statistics.median(samples)
            p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
            label = "cold" if cold else "warm"
            verdict = "OK" if median < target else "OVER TARGET"
            print(
                f"{days:>2}-day {label}: {count:5d} slots  "
                f"median {median:6.2f} ms  p95 {p95:6.2f} ms  "
                f"(n={repeats}, target median < {target:.0f} ms: {verdict})"
            )


if __name__ == "__main__":
    main()
