"""The availability "tape strip": one local day of a studio laid out as rows of time.

One row per room (or, for a service that needs no room, one row per engineer), the studio's
opening hours across, and on each row:

- ``segments``: the row's time cut into kinds, tiling the window without gaps or overlaps:
  ``free`` (covered by a session that can be booked now), ``taken`` (a booking or a live hold,
  widened by its buffers), ``closed`` (outside the room's or engineer's hours, or a blackout),
  ``past`` (before ``now`` plus the studio's lead time) and ``unavailable`` (open and not
  taken, yet no session of this length fits: a gap too short, or no engineer free);
- ``starts``: every start that can be booked, exactly the slots ``availability.search_slots``
  offers (the same code path that checks a hold or booking, so what is offered can be booked:
  ARCHITECTURE.md principle 3).

Positions are percentages of the window (``left``, ``width``), measured in real elapsed time,
so a 25-hour DST day is 25 hours wide; labels are wall-clock times in the studio's zone. All
instants are aware UTC datetimes; minutes are ints.

:func:`layout` is pure (a core query and its slots in, a :class:`Strip` out) and holds every
rule of the drawing; :func:`day_strip` reads the rows (through ``availability``) and calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from studiobook import scheduling as core
from studiobook.bookings.availability import search
from studiobook.studios.models import Service, Studio

Span = tuple[datetime, datetime]

FREE, TAKEN, CLOSED, PAST, UNAVAILABLE = "free", "taken", "closed", "past", "unavailable"
# When kinds overlap, the first one listed wins: a booking on a blacked-out room is "taken".
PRECEDENCE = (TAKEN, CLOSED, PAST, FREE, UNAVAILABLE)
SEGMENT_LABELS = {
    FREE: "Free",
    TAKEN: "Taken",
    CLOSED: "Closed",
    PAST: "Too soon to book",
    UNAVAILABLE: "Not bookable for this length",
}


@dataclass(frozen=True)
class Segment:
    """A stretch ``[start, end)`` of one ``kind`` (see the module docstring); ``left`` and
    ``width`` are percentages of the strip's window."""

    kind: str
    start: datetime
    end: datetime
    left: float
    width: float

    @property
    def label(self) -> str:
        return SEGMENT_LABELS[self.kind]


@dataclass(frozen=True)
class FreeStart:
    """A bookable session ``[start, end)`` on a row. ``room_id`` is None for a service without
    a room; ``staff_ids`` are the engineers free for it (on an engineer's row: that one).
    ``left`` and ``width`` place the session on the strip, in percent of the window.
    ``time_label`` is the local start ("10:00"); ``label`` names the row, the local day and
    the session ("Studio A, Tue 24 Nov 10:00–12:00")."""

    start: datetime
    end: datetime
    room_id: int | None
    staff_ids: tuple[int, ...]
    left: float
    width: float
    time_label: str
    label: str

    @property
    def start_iso(self) -> str:
        """The start as UTC ISO 8601 with ``Z`` (what the booking form posts back)."""
        return iso_utc(self.start)


@dataclass(frozen=True)
class Row:
    """One room (``kind="room"``) or engineer (``kind="staff"``)."""

    kind: str
    id: int
    name: str
    segments: tuple[Segment, ...]
    starts: tuple[FreeStart, ...]


@dataclass(frozen=True)
class Tick:
    """An hour mark: ``label`` is the local wall-clock time ("13:00"; "01:00 EDT" and
    "01:00 EST" on the day the clocks fall back), ``left`` its position in percent."""

    at: datetime
    left: float
    label: str


@dataclass(frozen=True)
class Strip:
    """The day ``day`` (local, in ``zone``) for sessions of ``duration_minutes``.

    ``watched_room_ids``/``watched_staff_ids``: every room and engineer whose bookings can
    change what the strip shows (its rows, and the engineers a room's sessions need).
    ``window_start``/``window_end`` (UTC) span the studio's opening hours that day, widened
    to whole local hours and to the end of the last session; ``is_open`` is False when the
    studio does not open that day (the window is then the whole local day, all ``closed``).
    """

    day: date
    zone: str
    duration_minutes: int
    window_start: datetime
    window_end: datetime
    is_open: bool
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    watched_room_ids: tuple[int, ...] = ()
    watched_staff_ids: tuple[int, ...] = ()

    @property
    def label_step(self) -> int:
        """Label every n-th hour mark so that labels fit a phone's width: 1 up to 6 hours,
        2 up to 12, 3 up to 18, else 4."""
        hours = (self.window_end - self.window_start) / timedelta(hours=1)
        return 1 if hours <= 6 else 2 if hours <= 12 else 3 if hours <= 18 else 4

    @property
    def free_count(self) -> int:
        return sum(len(row.starts) for row in self.rows)



def iso_utc(instant: datetime) -> str:
    """``2026-11-24T15:00:00Z``: an aware instant as UTC ISO 8601, whole seconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_ambiguous(local: datetime) -> bool:
    """True when the wall-clock reading of ``local`` happens twice (a fall-back hour)."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def clock_label(instant: datetime, tz: ZoneInfo) -> str:
    """"10:00", or "01:00 EDT" when that reading happens twice that day (DST ends)."""
    local = instant.astimezone(tz)
    return f"{local:%H:%M %Z}" if _is_ambiguous(local) else f"{local:%H:%M}"


def span_label(start: datetime, end: datetime, zone: str, *, with_day: bool = True) -> str:
    """"Tue 24 Nov 10:00–12:00" in ``zone`` ("10:00–12:00" without ``with_day``, for a page
    that shows one day). The end carries its own day when the span runs past local midnight
    ("... 23:00–Wed 25 Nov 01:00"); both times carry the zone's abbreviation when the clock
    changes during the span or one of the readings happens twice ("Sun 1 Nov 01:00
    EDT–01:00 EST")."""
    tz = ZoneInfo(zone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    clock = ("%H:%M %Z" if a.utcoffset() != b.utcoffset() or _is_ambiguous(a)
             or _is_ambiguous(b) else "%H:%M")
    text = (f"{day_label(a)} " if with_day else "") + f"{a.strftime(clock)}–"
    return text + (b.strftime(clock) if a.date() == b.date()
                   else f"{day_label(b)} {b.strftime(clock)}")


def session_label(name: str, start: datetime, end: datetime, zone: str) -> str:
    """"Studio A, Tue 24 Nov 10:00–12:00": ``name`` and :func:`span_label`."""
    return f"{name}, {span_label(start, end, zone)}"


def day_label(moment: datetime) -> str:
    """"Tue 24 Nov" for a local date or datetime, in fixed English names (strftime's %a and %b
    follow the process locale)."""
    return (f"{_WEEKDAYS[moment.isoweekday() - 1]} {moment.day} "
            f"{_MONTHS[moment.month - 1]}")


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- span arithmetic on aware datetimes (the core's set operations) ---------------------------

def _clip(spans: Iterable[Span], lo: datetime, hi: datetime) -> list[Span]:
    """``spans`` cut to ``[lo, hi)``, merged (sorted, disjoint, empty ones dropped)."""
    return core.merge_spans((max(a, lo), min(b, hi)) for a, b in spans)


def _covers(spans: list[Span], instant: datetime) -> bool:
    return any(a <= instant < b for a, b in spans)


def _windows(rules, zone: str, lo: datetime, hi: datetime) -> list[Span]:
    return [(w.start, w.end) for w in core.working_windows(rules, zone, lo, hi)]


# --- the layout --------------------------------------------------------------------------------

def _floor_hour(instant: datetime, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    return instant - timedelta(minutes=local.minute, seconds=local.second,
                               microseconds=local.microsecond)


def _window(query: core.SlotQuery, slots: Sequence[core.Slot], day: date
            ) -> tuple[datetime, datetime, bool]:
    tz = ZoneInfo(query.zone)
    day_start, day_end = core.local_day_bounds(query.zone, day)
    # Starts belong to the day they fall on; a window that runs past midnight is followed to
    # the end of the longest session that can start before midnight.
    reach = day_end + timedelta(minutes=query.duration_minutes)
    opening = [(a, b) for a, b in _windows(query.studio_rules, query.zone, day_start, reach)
               if a < day_end]
    if not opening:
        return day_start, day_end, False
    lo = max(day_start, opening[0][0])
    hi = max(b for _, b in opening)
    hi = max([hi, *(s.end for s in slots)])
    lo = _floor_hour(lo, tz)
    floored = _floor_hour(hi, tz)
    hi = floored if floored == hi else floored + timedelta(hours=1)
    return lo, hi, True


def _percent(instant: datetime, lo: datetime, span: timedelta) -> float:
    return _share(instant - lo, span)


def _share(part: timedelta, whole: timedelta) -> float:
    """``part`` as a percentage of ``whole``, to 4 decimals."""
    return round(part / whole * 100, 4)


def _segments(*, lo: datetime, hi: datetime, kinds: dict[str, list[Span]]) -> list[Segment]:
    """Tile ``[lo, hi)`` with segments; each elementary piece takes the first kind in
    ``PRECEDENCE`` whose spans cover it, ``unavailable`` when none does."""
    bounds = {lo, hi}
    for spans in kinds.values():
        for a, b in spans:
            bounds.update(t for t in (a, b) if lo < t < hi)
    edges = sorted(bounds)
    pieces: list[tuple[str, datetime, datetime]] = []
    for a, b in pairwise(edges):
        kind = next((k for k in PRECEDENCE if k in kinds and _covers(kinds[k], a)), UNAVAILABLE)
        if pieces and pieces[-1][0] == kind:
            pieces[-1] = (kind, pieces[-1][1], b)
        else:
            pieces.append((kind, a, b))
    total = hi - lo
    return [Segment(kind, a, b, _percent(a, lo, total), _share(b - a, total))
            for kind, a, b in pieces]


def layout(query: core.SlotQuery, slots: Sequence[core.Slot], *, day: date) -> Strip:
    """The strip of local ``day`` for ``query`` (built by ``availability.build_query`` for
    that day) and ``slots`` (what ``find_slots`` / ``search_slots`` returned for it).

    Rows are ``query.rooms`` in id order, or ``query.engineers`` when the service needs no
    room (an engineer's row gets every slot that engineer is free for, with ``staff_ids`` just
    that engineer). A row's closed time is outside the studio's and its own working windows
    (``scheduling.working_windows``, DST-correct) or in a studio or own blackout; taken time is
    its busy intervals (allocations already widened by buffers); past time runs to
    ``now + lead_time_minutes``. Pure: reads no clock and no database.
    """
    tz = ZoneInfo(query.zone)
    lo, hi, is_open = _window(query, slots, day)
    total = hi - lo
    resources = query.rooms if query.rooms is not None else (query.engineers or ())
    kind = "room" if query.rooms is not None else "staff"

    studio_open = _clip(_windows(query.studio_rules, query.zone, lo, hi), lo, hi)
    studio_blackouts = [(i.start, i.end) for i in query.studio_blackouts]
    earliest = query.now + timedelta(minutes=query.lead_time_minutes)
    past = [(lo, min(hi, earliest))] if earliest > lo else []

    starts_by: dict[int, list[core.Slot]] = {r.id: [] for r in resources}
    for slot in slots:
        ids = [slot.room_id] if kind == "room" else list(slot.staff_ids)
        for resource_id in ids:
            if resource_id in starts_by:
                starts_by[resource_id].append(slot)

    rows = []
    for resource in sorted(resources, key=lambda r: r.id):
        name = resource.name or f"{kind} {resource.id}"
        own_open = _clip(_windows(resource.rules, query.zone, lo, hi), lo, hi)
        open_spans = core.intersect_spans(studio_open, own_open)
        closed = _clip([*core.subtract_spans([(lo, hi)], open_spans), *studio_blackouts,
                        *((i.start, i.end) for i in resource.blackouts)], lo, hi)
        taken = _clip(((i.start, i.end) for i in resource.busy), lo, hi)
        mine = starts_by[resource.id]
        free = _clip(((s.start, s.end) for s in mine), lo, hi)
        segments = _segments(lo=lo, hi=hi, kinds={TAKEN: taken, CLOSED: closed, PAST: past,
                                                  FREE: free})
        starts = tuple(
            FreeStart(
                start=s.start, end=s.end, room_id=s.room_id,
                staff_ids=s.staff_ids if kind == "room" else (resource.id,),
                left=_percent(s.start, lo, total),
                width=_share(min(s.end, hi) - s.start, total),
                time_label=clock_label(s.start, tz),
                label=session_label(name, s.start, s.end, query.zone),
            )
            for s in mine
        )
        rows.append(Row(kind, resource.id, name, tuple(segments), starts))

    ticks = []
    tick = lo
    while tick <= hi:
        ticks.append(Tick(tick, _percent(tick, lo, total), clock_label(tick, tz)))
        tick += timedelta(hours=1)
    return Strip(day=day, zone=query.zone, duration_minutes=query.duration_minutes,
                 window_start=lo, window_end=hi,
                 is_open=is_open, rows=tuple(rows), ticks=tuple(ticks),
                 watched_room_ids=tuple(sorted(r.id for r in query.rooms or ())),
                 watched_staff_ids=tuple(sorted(e.id for e in query.engineers or ())))


def day_strip(*, studio: Studio, service: Service, day: date, duration_minutes: int,
              now: datetime, room_id: int | None = None, staff_id: int | None = None) -> Strip:
    """The strip of local ``day`` at ``studio`` for ``service`` over ``duration_minutes``,
    optionally narrowed to one room or one engineer, as the studio stands at ``now`` (UTC).

    The starts and the shading come from one ``availability.search`` of the local day (the
    code path that validates holds and bookings). Raises what ``search_slots`` raises:
    InvalidInput (``duration_min`` off the service's rules, an unsuitable ``room_id`` or
    ``staff_ids``), NotFound (another studio's room or engineer).
    """
    day_start, day_end = core.local_day_bounds(studio.time_zone, day)
    staff_ids = [staff_id] if staff_id is not None else None
    query, slots = search(studio=studio, service=service, duration_minutes=duration_minutes,
                          range_start=day_start, range_end=day_end, now=now,
                          room_id=room_id, staff_ids=staff_ids)
    return layout(query, slots, day=day)
