"""Value objects of the scheduling core.

All of them are frozen, slotted dataclasses so they are hashable, cheap and
safe to share between threads.  Instants are timezone-aware datetimes (UTC
expected; any aware datetime is accepted and compared as an instant), minutes
are ``int``, money is ``int`` minor units (cents).  Weekdays are ISO 8601
numbers, 1 = Monday ... 7 = Sunday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

from ._time import is_aware
from .errors import InvalidQuery


def _check_minutes(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidQuery(f"{name} must be a non-negative whole number of minutes, got {value!r}")


@dataclass(frozen=True, slots=True)
class Interval:
    """Half-open span of time ``[start, end)``.

    ``start`` and ``end`` are aware datetimes (UTC), ``end > start``.
    ``label`` is free text shown in conflict messages, e.g.
    ``"booking SB-7K2QF"`` or ``"blackout: Holiday"``.

    Raises :class:`InvalidQuery` for naive datetimes or ``end <= start``.
    """

    start: datetime
    end: datetime
    label: str = ""

    def __post_init__(self) -> None:
        if not (is_aware(self.start) and is_aware(self.end)):
            raise InvalidQuery(f"interval {self.label!r} needs timezone-aware start and end")
        if self.end <= self.start:
            raise InvalidQuery(f"interval {self.label!r} must end after it starts")


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """A recurring working window in the query zone's local wall-clock time.

    ``weekdays``: ISO weekdays (1 = Monday ... 7 = Sunday) on which the window
    *starts*; any iterable is accepted and stored as a ``frozenset``.
    ``start_time`` / ``end_time``: naive local times.  ``end_time <=
    start_time`` means the window runs past midnight and ends on the next local
    day (``00:00`` = midnight; equal times = a 24-hour window).
    ``effective_from`` / ``effective_to``: optional inclusive bounds on the
    local date the window starts on; a rule with ``effective_from >
    effective_to`` simply never applies.

    Raises :class:`InvalidQuery` for weekdays outside 1..7 (a guard against
    Python's 0-based ``date.weekday()``) or tz-aware times.
    """

    weekdays: frozenset[int]
    start_time: time
    end_time: time
    effective_from: date | None = None
    effective_to: date | None = None

    def __post_init__(self) -> None:
        days = frozenset(self.weekdays)
        if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days):
            raise InvalidQuery(
                "weekdays must be ISO numbers 1 (Monday) .. 7 (Sunday), "
                f"got {sorted(days, key=repr)}"
            )
        object.__setattr__(self, "weekdays", days)
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise InvalidQuery(f"{name} must be a naive datetime.time (local wall clock)")
        for name in ("effective_from", "effective_to"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise InvalidQuery(f"{name} must be a datetime.date or None")


@dataclass(frozen=True, slots=True)
class ResourceInput:
    """A bookable resource (room or engineer) as the engine sees it.

    ``rules``: working hours; ``None`` = unrestricted (follows the studio
    only), ``()`` = never available.  ``blackouts``: intervals the *session*
    may not overlap.  ``busy``: occupancy of existing bookings and active
    holds, ALREADY widened by their own buffers (see :func:`allocation_span`).
    ``buffer_before_minutes`` / ``buffer_after_minutes``: this resource's own
    buffer rule, combined with the service's by taking the maximum.

    Lists are accepted and stored as tuples.  Raises :class:`InvalidQuery`
    for negative buffers.
    """

    id: int
    rules: tuple[WeeklyRule, ...] | None
    blackouts: tuple[Interval, ...] = ()
    busy: tuple[Interval, ...] = ()
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    name: str = ""  # shown in messages ("Studio A is busy: ..."); "room 3" when empty

    def __post_init__(self) -> None:
        if self.rules is not None and not isinstance(self.rules, tuple):
            object.__setattr__(self, "rules", tuple(self.rules))
        for name in ("blackouts", "busy"):
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_minutes("buffer_before_minutes", self.buffer_before_minutes)
        _check_minutes("buffer_after_minutes", self.buffer_after_minutes)


@dataclass(frozen=True, slots=True)
class PriceRule:
    """Price of a service: ``amount_minor`` (int minor units) per ``"hour"``
    or per ``"session"``.  Raises :class:`InvalidQuery` for another unit or a
    non-int amount."""

    unit: Literal["hour", "session"]
    amount_minor: int

    def __post_init__(self) -> None:
        if self.unit not in ("hour", "session"):
            raise InvalidQuery(f"price unit must be 'hour' or 'session', got {self.unit!r}")
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidQuery("amount_minor must be an int (minor units)")


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """Everything :func:`find_slots` needs; see the package docstring for the rules.

    ``zone``: IANA zone of the studio.  ``range_start`` / ``range_end``: slots
    must START in ``[range_start, range_end)`` (aware, UTC).  ``now``: the
    reference instant for lead time and horizon (passed in, never read from
    the clock).  ``duration_minutes``: session length in real elapsed minutes.
    ``studio_rules``: studio hours (``None`` = always open, ``()`` = never).
    ``rooms``: ``None`` = the service needs no room.  ``engineers``: ``None`` =
    needs no engineer, ``()`` = needs one but none qualifies (no slots).
    ``grid_minutes``: starts fall on local minute-of-day multiples of this.
    ``lead_time_minutes``: earliest start is ``now + lead``.
    ``horizon_days``: latest start is ``now + horizon_days * 24h`` (inclusive).
    ``buffer_*_minutes``: the service's buffers.  ``price``: see :func:`price_for`.

    Validation happens in :func:`find_slots` / :func:`explain_unavailable`,
    which raise :class:`InvalidQuery` / :class:`InvalidDuration`.
    """

    zone: str
    range_start: datetime
    range_end: datetime
    now: datetime
    duration_minutes: int
    studio_rules: tuple[WeeklyRule, ...] | None
    studio_blackouts: tuple[Interval, ...] = ()
    rooms: tuple[ResourceInput, ...] | None = None
    engineers: tuple[ResourceInput, ...] | None = None
    grid_minutes: int = 15
    lead_time_minutes: int = 0
    horizon_days: int = 90
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    price: PriceRule = PriceRule("session", 0)


@dataclass(frozen=True, slots=True)
class Slot:
    """An offered slot ``[start, end)`` (aware UTC; ``end - start`` is the
    duration in real elapsed time).  ``room_id`` is ``None`` when the service
    needs no room.  ``staff_ids`` lists every engineer free for the whole slot,
    ascending; ``()`` when no engineer is needed.  ``price_minor`` is int minor
    units."""

    start: datetime
    end: datetime
    room_id: int | None
    staff_ids: tuple[int, ...]
    price_minor: int


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a start cannot be booked.

    ``code`` is one of ``"lead_time"``, ``"horizon"``, ``"off_grid"``,
    ``"outside_hours"``, ``"blackout"``, ``"busy"``, ``"no_engineer"``;
    ``message`` is human readable and names the resource and, when there is
    one, the conflicting interval's label.
    """

    code: str
    message: str
