"""Slot search (:func:`find_slots`) and booking validation (:func:`explain_unavailable`).

Both are built on the same per-resource constraint objects (:class:`_Check`),
which turn every rule into a set of allowed or forbidden START instants:

* a working window ``[a, b)`` allows starts in ``[a, b - d]``;
* a blackout ``[x, y)`` forbids starts in ``(x - d, y)``;
* a busy interval ``[x, y)`` forbids starts in ``(x - d - after, y + before)``;

with ``d`` the duration and ``before``/``after`` the effective buffers.
:func:`find_slots` intersects and subtracts those sets and walks grid points
through what is left; :func:`explain_unavailable` asks the same sets about one
instant, rule by rule, so "what is offered can be booked, and what cannot be
booked is not offered" holds by construction.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from ._intervals import Span, contains, intersect, intersect_tagged, merge, subtract, tagged_union
from ._time import DAY, MINUTE, from_ticks, get_zone, grid_ticks, to_ticks
from .errors import InvalidQuery
from .money import _is_int
from .pricing import price_for, validate_duration
from .types import Interval, PriceRule, ResourceInput, Slot, SlotQuery, Unavailable
from .windows import windows_ticks

_Forbid = tuple[int, int, Interval]  # (first forbidden start, end of forbidden starts, source)


# --------------------------------------------------------------------------- public helpers


def allocation_span(
    start: datetime,
    end: datetime,
    before_minutes: int,
    after_minutes: int,
    *,
    label: str = "",
) -> Interval:
    """The occupancy of a booking ``[start, end)`` widened by its buffers:
    ``[start - before_minutes, end + after_minutes)``.

    This is what a stored booking or hold contributes to
    :attr:`ResourceInput.busy`.  ``start``/``end`` are aware datetimes (UTC),
    buffers are non-negative int minutes, ``label`` is copied to the result.

    Raises :class:`InvalidQuery` for naive datetimes, ``end <= start`` or a
    negative or non-int buffer.
    """
    for name, value in (("before_minutes", before_minutes), ("after_minutes", after_minutes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidQuery(f"{name} must be a non-negative int, got {value!r}")
    return Interval(
        start - timedelta(minutes=before_minutes), end + timedelta(minutes=after_minutes), label
    )


def effective_buffers(query: SlotQuery, resource: ResourceInput | None) -> tuple[int, int]:
    """``(before, after)`` minutes of buffer a new session needs on ``resource``:
    the larger of the service's buffer (on ``query``) and the resource's own,
    per side.  ``resource=None`` gives the service's buffers alone."""
    if resource is None:
        return query.buffer_before_minutes, query.buffer_after_minutes
    return (
        max(query.buffer_before_minutes, resource.buffer_before_minutes),
        max(query.buffer_after_minutes, resource.buffer_after_minutes),
    )


# --------------------------------------------------------------------------- validation


def _validate(query: SlotQuery) -> tuple[tzinfo, int, int, int]:
    """Check the query; return ``(zone, range_start, range_end, now)`` with ticks."""
    if not isinstance(query, SlotQuery):
        raise InvalidQuery("query must be a SlotQuery")
    tz = get_zone(query.zone)
    range_start = to_ticks(query.range_start, "range_start")
    range_end = to_ticks(query.range_end, "range_end")
    now = to_ticks(query.now, "now")
    if range_end <= range_start:
        raise InvalidQuery("range_end must be after range_start")
    validate_duration(query.duration_minutes, minimum=None, maximum=None, step=None)
    if not _is_int(query.grid_minutes) or query.grid_minutes <= 0:
        raise InvalidQuery("grid_minutes must be a positive int")
    for name in (
        "lead_time_minutes",
        "horizon_days",
        "buffer_before_minutes",
        "buffer_after_minutes",
    ):
        value = getattr(query, name)
        if not _is_int(value) or value < 0:
            raise InvalidQuery(f"{name} must be a non-negative int, got {value!r}")
    if not isinstance(query.price, PriceRule):
        raise InvalidQuery("price must be a PriceRule")
    for kind, resources in (("room", query.rooms), ("engineer", query.engineers)):
        if resources is None:
            continue
        ids = set()
        for resource in resources:
            if not isinstance(resource, ResourceInput):
                raise InvalidQuery(f"{kind}s must be ResourceInput objects")
            if resource.id in ids:
                raise InvalidQuery(f"duplicate {kind} id {resource.id}")
            ids.add(resource.id)
    return tz, range_start, range_end, now


def _start_bounds(query: SlotQuery, now: int) -> tuple[int, int]:
    """``[earliest, latest_exclusive)`` allowed by lead time and horizon (rule 1)."""
    earliest = now + query.lead_time_minutes * MINUTE
    latest_exclusive = now + query.horizon_days * DAY + 1
    return earliest, latest_exclusive


# --------------------------------------------------------------------------- constraints


def _fmt(ticks: int) -> str:
    moment = from_ticks(ticks)
    return moment.strftime(
        "%Y-%m-%d %H:%M:%S UTC" if moment.second or moment.microsecond else "%Y-%m-%d %H:%M UTC"
    )


def _describe(interval: Interval) -> str:
    span = f"{_fmt(to_ticks(interval.start))} to {_fmt(to_ticks(interval.end))}"
    return f"{interval.label} ({span})" if interval.label else span


class _Check:
    """One resource's (or the studio's) constraints as start-instant sets."""

    __slots__ = ("name", "hours", "blackouts", "busy", "duration", "before", "after")

    def __init__(
        self,
        name: str,
        hours: list[Span] | None,
        blackouts: list[_Forbid],
        busy: list[_Forbid],
        duration: int,
        before: int,
        after: int,
    ) -> None:
        self.name = name
        self.hours = hours  # allowed starts; None = unrestricted
        self.blackouts = blackouts
        self.busy = busy
        self.duration = duration
        self.before = before
        self.after = after

    def allowed(self, base: list[Span]) -> list[Span]:
        """``base`` restricted to the starts this resource allows (rules 3-4)."""
        spans = base if self.hours is None else intersect(base, self.hours)
        forbidden = merge(
            [(f[0], f[1]) for f in self.blackouts] + [(f[0], f[1]) for f in self.busy]
        )
        return subtract(spans, forbidden)

    def hours_violation(self, start: int) -> Unavailable | None:
        if self.hours is None or contains(self.hours, start):
            return None
        return Unavailable(
            "outside_hours",
            f"{_fmt(start)} to {_fmt(start + self.duration)} "
            f"is outside the working hours of {self.name}",
        )

    def blackout_violation(self, start: int) -> Unavailable | None:
        for lo, hi, interval in self.blackouts:
            if lo <= start < hi:
                return Unavailable("blackout", f"{self.name} is blacked out: {_describe(interval)}")
        return None

    def busy_violation(self, start: int) -> Unavailable | None:
        for lo, hi, interval in self.busy:
            if lo <= start < hi:
                return Unavailable(
                    "busy",
                    f"{self.name} is busy: {_describe(interval)}; the session needs it free from "
                    f"{_fmt(start - self.before * MINUTE)} to "
                    f"{_fmt(start + self.duration + self.after * MINUTE)} "
                    f"(buffers {self.before} min before, {self.after} min after)",
                )
        return None

    def first_violation(self, start: int) -> Unavailable | None:
        return (
            self.hours_violation(start)
            or self.blackout_violation(start)
            or self.busy_violation(start)
        )


class _Context:
    """Per-call state: zone, duration and the span of starts under consideration.

    Working windows are computed over ``[lo, hi + d)``: a start just before
    ``hi`` needs its whole session inside a window.  Resources sharing one rule
    set (typical for rooms) share the computation.
    """

    __slots__ = ("query", "tz", "lo", "hi", "d", "_hours")

    def __init__(self, query: SlotQuery, tz: tzinfo, lo: int, hi: int) -> None:
        self.query = query
        self.tz = tz
        self.lo = lo
        self.hi = hi
        self.d = query.duration_minutes * MINUTE
        self._hours: dict[tuple, list[Span]] = {}

    def hours(self, rules: Sequence | None) -> list[Span] | None:
        if rules is None:
            return None
        key = tuple(rules)
        cached = self._hours.get(key)
        if cached is None:
            d = self.d
            windows = windows_ticks(key, self.tz, self.lo, self.hi + d)
            cached = [(a, b - d + 1) for a, b in windows if b - a >= d]
            self._hours[key] = cached
        return cached

    def _blackouts(self, intervals: Sequence[Interval]) -> list[_Forbid]:
        d = self.d
        out = [(to_ticks(i.start) - d + 1, to_ticks(i.end), i) for i in intervals]
        out.sort(key=lambda f: (f[0], f[1]))
        return out

    def studio(self) -> _Check:
        q = self.query
        return _Check(
            "the studio",
            self.hours(q.studio_rules),
            self._blackouts(q.studio_blackouts),
            [],
            self.d,
            0,
            0,
        )

    def resource(self, kind: str, resource: ResourceInput) -> _Check:
        before, after = effective_buffers(self.query, resource)
        d = self.d
        low, high = before * MINUTE, after * MINUTE
        busy = [(to_ticks(i.start) - d - high + 1, to_ticks(i.end) + low, i) for i in resource.busy]
        busy.sort(key=lambda f: (f[0], f[1]))
        return _Check(
            resource.name or f"{kind} {resource.id}",
            self.hours(resource.rules),
            self._blackouts(resource.blackouts),
            busy,
            d,
            before,
            after,
        )


# --------------------------------------------------------------------------- find_slots


def find_slots(query: SlotQuery) -> list[Slot]:
    """Every bookable slot of ``query``, sorted by ``(start, room_id)`` with
    ``room_id=None`` first; deterministic and duplicate-free.

    A slot ``[s, s + d)`` in room ``r`` (when ``query.rooms`` is not None) is
    offered iff, in this order:

    1. ``range_start <= s < range_end``, ``s >= now + lead_time_minutes`` and
       ``s <= now + horizon_days * 24h``;
    2. ``s`` is on the grid: its LOCAL wall-clock minute-of-day in
       ``query.zone`` is a multiple of ``grid_minutes`` (whole minute; the grid
       follows local time across DST changes);
    3. ``[s, s + d)`` (``d`` real elapsed minutes) lies inside the studio's
       working windows and ``r``'s (see :func:`working_windows`), and overlaps
       no studio blackout and no blackout of ``r``;
    4. ``[s - before, s + d + after)`` with ``(before, after) =
       effective_buffers(query, r)`` overlaps none of ``r.busy``;
    5. when ``query.engineers`` is not None, at least one engineer passes 3 and
       4 with its own hours, blackouts, busy and buffers; ``staff_ids`` lists
       all of them ascending.

    ``price_minor`` is ``price_for(query.price, duration_minutes)``.

    Raises :class:`InvalidQuery` (unknown zone, naive datetimes, empty range,
    negative lead/horizon/buffers, non-positive grid, duplicate resource ids)
    or :class:`InvalidDuration` (non-positive duration).
    """
    tz, range_start, range_end, now = _validate(query)
    earliest, latest = _start_bounds(query, now)
    lo, hi = max(range_start, earliest), min(range_end, latest)
    if lo >= hi or query.rooms == () or query.engineers == ():
        return []
    ctx = _Context(query, tz, lo, hi)
    base = ctx.studio().allowed([(lo, hi)])
    if not base:
        return []

    if query.engineers is None:
        pieces = [(a, b, ()) for a, b in base]
    else:
        members = []
        for engineer in sorted(query.engineers, key=lambda e: e.id):
            allowed = ctx.resource("engineer", engineer).allowed(base)
            if allowed:
                members.append((engineer.id, allowed))
        pieces = tagged_union(members)
    if not pieces:
        return []

    grid = grid_ticks(tz, pieces[0][0], pieces[-1][1], query.grid_minutes)
    rooms: list[ResourceInput | None] = (
        [None] if query.rooms is None else sorted(query.rooms, key=lambda r: r.id)
    )
    rows: list[tuple[int, int, tuple[int, ...]]] = []  # (start, room position, staff)
    for position, room in enumerate(rooms):
        room_pieces = (
            pieces
            if room is None
            else intersect_tagged(ctx.resource("room", room).allowed(base), pieces)
        )
        for a, b, staff in room_pieces:
            for start in grid[bisect_left(grid, a) : bisect_left(grid, b)]:
                rows.append((start, position, staff))
    # Each room's rows are already ascending; with unique room positions this
    # sort is a cheap run merge giving (start, room_id) order.
    rows.sort()  # (start, room position) is unique: staff tuples are never compared

    price = price_for(query.price, query.duration_minutes)
    room_ids = [None if room is None else room.id for room in rooms]
    d = ctx.d
    moments: dict[int, datetime] = {}
    slots = []
    for start, position, staff in rows:
        begin = moments.get(start)
        if begin is None:
            begin = moments[start] = from_ticks(start)
        end = moments.get(start + d)
        if end is None:
            end = moments[start + d] = from_ticks(start + d)
        slots.append(Slot(begin, end, room_ids[position], staff, price))
    return slots


# --------------------------------------------------------------------------- explain_unavailable


def _pick(
    resources: Sequence[ResourceInput] | None, wanted: int | None, kind: str
) -> ResourceInput | None:
    if resources is None:
        if wanted is not None:
            raise InvalidQuery(f"this service needs no {kind}, got {kind} id {wanted}")
        return None
    if wanted is None:
        return None
    for resource in resources:
        if resource.id == wanted:
            return resource
    raise InvalidQuery(f"unknown {kind} id {wanted} for this query")


def _summarise(code: str, intro: str, failures: list[Unavailable]) -> Unavailable:
    return Unavailable(code, intro + "; ".join(f.message for f in failures))


def explain_unavailable(
    query: SlotQuery,
    start: datetime,
    room_id: int | None,
    staff_id: int | None,
) -> Unavailable | None:
    """Why ``start`` cannot be booked, or ``None`` if it can.

    Returns ``None`` iff :func:`find_slots` on the same query offers a slot
    starting at ``start`` in room ``room_id`` (any room when ``room_id`` is
    None) that, when ``staff_id`` is given, lists that engineer in
    ``staff_ids``.  Otherwise returns the FIRST failing rule, in the order of
    :func:`find_slots`: ``lead_time``, ``horizon``, ``off_grid``, then
    ``outside_hours`` (studio, then room), ``blackout`` (studio, then room),
    ``busy`` (room), then the engineer check.

    Engineer check: with ``staff_id`` given, that engineer's own failure is
    reported with its specific code (``outside_hours`` / ``blackout`` /
    ``busy``, message naming the engineer); with ``staff_id=None`` and no
    engineer free, the code is ``no_engineer`` and the message gives each
    engineer's reason.  With ``room_id=None`` and several rooms all failing,
    the code is the lowest-id room's and the message lists every room's reason;
    with ``query.rooms == ()`` the code is ``outside_hours`` ("no room").

    Raises :class:`InvalidQuery` for an invalid query, a naive ``start``, a
    ``start`` outside ``[range_start, range_end)`` (not a business reason: the
    caller chose the range), an unknown ``room_id`` / ``staff_id``, or an id
    given for a resource kind the service does not need;
    :class:`InvalidDuration` for a non-positive duration.
    """
    tz, range_start, range_end, now = _validate(query)
    s = to_ticks(start, "start")
    if not range_start <= s < range_end:
        raise InvalidQuery("start must lie in [range_start, range_end) of the query")
    room = _pick(query.rooms, room_id, "room")
    engineer = _pick(query.engineers, staff_id, "engineer")

    earliest, latest = _start_bounds(query, now)
    if s < earliest:
        return Unavailable(
            "lead_time",
            f"{_fmt(s)} is too soon: bookings need {query.lead_time_minutes} minutes' notice "
            f"(earliest start {_fmt(earliest)})",
        )
    if s >= latest:
        return Unavailable(
            "horizon",
            f"{_fmt(s)} is too far ahead: bookings open {query.horizon_days} days in advance "
            f"(latest start {_fmt(latest - 1)})",
        )
    if grid_ticks(tz, s, s + 1, query.grid_minutes) != [s]:
        local = start.astimezone(tz)
        return Unavailable(
            "off_grid",
            f"{local:%H:%M:%S} local time ({query.zone}) "
            f"is not on the {query.grid_minutes}-minute grid",
        )

    ctx = _Context(query, tz, s, s + 1)
    studio = ctx.studio()
    engineer_result: list[Unavailable | None] = []  # computed once, only if some room passes

    def engineers_failure() -> Unavailable | None:
        if not engineer_result:
            engineer_result.append(_engineer_failure(ctx, query, engineer, s))
        return engineer_result[0]

    def failure_in(room_check: _Check | None) -> Unavailable | None:
        checks = [studio] if room_check is None else [studio, room_check]
        for check in checks:
            if found := check.hours_violation(s):
                return found
        for check in checks:
            if found := check.blackout_violation(s):
                return found
        if room_check is not None and (found := room_check.busy_violation(s)):
            return found
        return engineers_failure()

    if query.rooms is None or room is not None:
        return failure_in(None if room is None else ctx.resource("room", room))
    if not query.rooms:
        return Unavailable("outside_hours", "no room can host this service")
    failures = []
    for candidate in sorted(query.rooms, key=lambda r: r.id):
        found = failure_in(ctx.resource("room", candidate))
        if found is None:
            return None
        failures.append(found)
    if len(failures) == 1:
        return failures[0]
    return _summarise(failures[0].code, "no room is free: ", failures)


def _engineer_failure(
    ctx: _Context, query: SlotQuery, engineer: ResourceInput | None, s: int
) -> Unavailable | None:
    """Rule 5 for one start: ``engineer`` alone when given, else any engineer."""
    if query.engineers is None:
        return None
    if engineer is not None:
        return ctx.resource("engineer", engineer).first_violation(s)
    if not query.engineers:
        return Unavailable("no_engineer", "no engineer qualifies for this service")
    failures = []
    for candidate in sorted(query.engineers, key=lambda e: e.id):
        found = ctx.resource("engineer", candidate).first_violation(s)
        if found is None:
            return None
        failures.append(found)
    return _summarise("no_engineer", "no engineer is free: ", failures)
