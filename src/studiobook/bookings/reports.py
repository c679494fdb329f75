"""Booking reports for the studio dashboard (recording-studio-prd.md section 16,
"/admin/reports"): the report period, utilization per room and per engineer, and top services.
The money reports (revenue, cancellations with their refunds) are in ``payments.reports``.

Every report covers a ``ReportPeriod``: local calendar days ``[first_day, end_day)`` in the
studio's zone, turned into UTC instants ``[start, end)`` at local midnight, so a period across
a DST change is 23 or 25 hours longer or shorter, exactly as the studio lived it.

Conventions: minutes are real elapsed minutes; money is int minor units of the studio's
currency; percentages are ``Decimal`` with one decimal place, rounded half to even (the rule
of ``scheduling.money.round_half_even``), or None when the denominator is zero. Each report
reads each table once (no N+1) and does its arithmetic in Python, so the numbers are the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from studiobook import scheduling as core
from studiobook.bookings.availability import blackouts_by_target, schedule_rules
from studiobook.bookings.models import Booking, BookingStaff
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import Room, StaffMember, Studio, Target

# The longest period a report covers: a year, leap day included.
MAX_PERIOD_DAYS = 366
# Bookings that count as sold (revenue, top services): the session is (or was) going ahead.
# Awaiting approval is not sold yet; canceled and rejected never were.
SOLD_STATUSES = (Booking.Status.CONFIRMED, Booking.Status.COMPLETED, Booking.Status.NO_SHOW)
# Bookings that occupy a room or engineer for utilization (the brief's "confirmed + completed";
# a no-show's slot was freed when it was marked).
OCCUPYING_STATUSES = (Booking.Status.CONFIRMED, Booking.Status.COMPLETED)

Span = tuple[datetime, datetime]


# --- the period -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportPeriod:
    """Local days ``[first_day, end_day)`` in IANA ``zone``, and the same period as UTC
    instants ``[start, end)``."""

    zone: str
    first_day: date
    end_day: date
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        """How many local calendar days the period covers."""
        return (self.end_day - self.first_day).days

    @property
    def last_day(self) -> date:
        """The last local day included."""
        return self.end_day - timedelta(days=1)

    def local_day(self, instant: datetime) -> date:
        """The local calendar date of the UTC ``instant`` in the period's zone."""
        return instant.astimezone(ZoneInfo(self.zone)).date()


def report_period(*, zone: str, first_day: date, end_day: date) -> ReportPeriod:
    """The period of local days ``[first_day, end_day)`` in ``zone`` (``end_day`` is not
    included). Raises InvalidInput on field ``to``: ``to_after_from`` when ``end_day`` is
    not after ``first_day``, ``max_range`` when the period is longer than
    ``MAX_PERIOD_DAYS``."""
    if end_day <= first_day:
        raise InvalidInput("“To” must be after “From”.", field="to", rule="to_after_from")
    if (end_day - first_day).days > MAX_PERIOD_DAYS:
        raise InvalidInput(f"A report covers at most {MAX_PERIOD_DAYS} days; choose a shorter "
                           "range.", field="to", rule="max_range")
    tz = ZoneInfo(zone)
    return ReportPeriod(zone=zone, first_day=first_day, end_day=end_day,
                        start=core.local_day_bounds(tz, first_day)[0],
                        end=core.local_day_bounds(tz, end_day)[0])


def period_presets(today: date) -> dict[str, tuple[date, date]]:
    """The quick choices of the report form, as ``(first_day, end_day)`` local dates relative
    to the studio's local ``today``: ``this_month``, ``last_month`` and ``last_30_days``
    (the 30 days ending with today, today included)."""
    this_month = today.replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return {
        "this_month": (this_month, next_month),
        "last_month": (last_month, this_month),
        "last_30_days": (today - timedelta(days=29), today + timedelta(days=1)),
    }


def percent(part: int, whole: int) -> Decimal | None:
    """``part / whole`` as a percentage with one decimal, rounded half to even; None when
    ``whole`` is 0."""
    if whole <= 0:
        return None
    return Decimal(core.round_half_even(part * 1000, whole)).scaleb(-1)


def _minutes(spans: Iterable[Span]) -> int:
    return int(sum((end - start).total_seconds() for start, end in spans) // 60)


# --- utilization ------------------------------------------------------------------------------

@dataclass(frozen=True)
class UtilizationRow:
    """One room (``kind="room"``) or engineer (``kind="engineer"``): ``booked_minutes`` of
    confirmed and completed sessions in the period (overlaps merged), ``open_minutes`` of
    working time in the period, and ``percent`` = booked / open (one decimal; None when the
    resource was never open). A session booked over closed hours (an admin override) still
    counts as booked, so ``percent`` can exceed 100."""

    kind: str
    id: int
    name: str
    booked_minutes: int
    open_minutes: int

    @property
    def percent(self) -> Decimal | None:
        return percent(self.booked_minutes, self.open_minutes)


@dataclass(frozen=True)
class UtilizationReport:
    rooms: list[UtilizationRow]
    engineers: list[UtilizationRow]


def utilization(*, studio: Studio, period: ReportPeriod) -> UtilizationReport:
    """Utilization of each room and each engineer over ``period``.

    Open time is what the booking flow offers (``scheduling.find_slots`` rule 3): the
    studio's working windows, intersected with the resource's own (a resource without rules
    follows the studio), minus studio and resource blackouts; windows come from
    ``scheduling.working_windows``, so weekly rules and DST are handled by the core. Booked
    time is each confirmed or completed session ``[start_at, end_at)`` clipped to the period
    (buffers are not sessions and are left out). Rows: active resources, plus inactive ones
    with booked time in the period; by id. Reads Room, StaffMember, ScheduleRule, Blackout,
    Booking and BookingStaff once each."""
    start, end = period.start, period.end
    rooms = list(Room.objects.for_studio(studio).order_by("id"))
    engineers = list(StaffMember.objects.for_studio(studio).order_by("id"))

    rules_by = schedule_rules(studio)
    blackouts_by = {key: [(b.start, b.end) for b in intervals]
                    for key, intervals in blackouts_by_target(studio, start, end).items()}

    def windows(rules) -> list[Span]:
        return [(w.start, w.end) for w in core.working_windows(rules, period.zone, start, end)]

    studio_open = windows(tuple(rules_by.get((Target.STUDIO, None), ())))
    studio_closed = blackouts_by.get((Target.STUDIO, None), [])

    def open_minutes(kind: str, resource_id: int) -> int:
        key = (kind, resource_id)
        spans = studio_open if key not in rules_by else core.intersect_spans(
            studio_open, windows(tuple(rules_by[key])))
        closed = core.merge_spans([*studio_closed, *blackouts_by.get(key, [])])
        return _minutes(core.subtract_spans(spans, closed))

    def clip(session_start: datetime, session_end: datetime) -> Span:
        return max(session_start, start), min(session_end, end)

    room_busy: dict[int, list[Span]] = defaultdict(list)
    for room_id, session_start, session_end in Booking.objects.filter(
            studio=studio, status__in=OCCUPYING_STATUSES, room__isnull=False,
            start_at__lt=end, end_at__gt=start).values_list("room_id", "start_at", "end_at"):
        room_busy[room_id].append(clip(session_start, session_end))
    staff_busy: dict[int, list[Span]] = defaultdict(list)
    for staff_id, session_start, session_end in BookingStaff.objects.filter(
            booking__studio=studio, booking__status__in=OCCUPYING_STATUSES,
            booking__start_at__lt=end, booking__end_at__gt=start).values_list(
            "staff_id", "booking__start_at", "booking__end_at"):
        staff_busy[staff_id].append(clip(session_start, session_end))

    def rows(kind: str, target: str, resources, busy) -> list[UtilizationRow]:
        return [UtilizationRow(kind=kind, id=r.id, name=str(r),
                               booked_minutes=_minutes(core.merge_spans(busy.get(r.id, []))),
                               open_minutes=open_minutes(target, r.id))
                for r in resources if r.is_active or r.id in busy]

    return UtilizationReport(rooms=rows("room", Target.ROOM, rooms, room_busy),
                             engineers=rows("engineer", Target.STAFF, engineers, staff_busy))


# --- top services -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceRow:
    """A service's sold bookings in the period: how many, their minutes and their revenue
    (the bookings' totals, taxes and fees included; minor units)."""

    service_id: int
    name: str
    booking_count: int
    minutes: int
    revenue_minor: int


def top_services(*, studio: Studio, period: ReportPeriod) -> list[ServiceRow]:
    """Services by revenue, highest first (then by bookings, then by name), over the sold
    bookings (``SOLD_STATUSES``) whose session starts in the period, in the studio's
    currency. The revenues add up to ``payments.reports.revenue``'s ``gross_booked_minor``.
    One query (Booking joined with its service)."""
    totals: dict[int, list] = {}
    for service_id, name, session_start, session_end, total in Booking.objects.filter(
            studio=studio, status__in=SOLD_STATUSES, currency=studio.currency,
            start_at__gte=period.start, start_at__lt=period.end).values_list(
            "service_id", "service__name", "start_at", "end_at", "total_minor"):
        row = totals.setdefault(service_id, [name, 0, 0, 0])
        row[1] += 1
        row[2] += _minutes([(session_start, session_end)])
        row[3] += total
    services = [ServiceRow(service_id=i, name=name, booking_count=count, minutes=minutes,
                           revenue_minor=revenue)
                for i, (name, count, minutes, revenue) in totals.items()]
    return sorted(services, key=lambda s: (-s.revenue_minor, -s.booking_count, s.name))
