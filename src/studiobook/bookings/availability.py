"""Rows in, core query out: the one bridge between the database and ``studiobook.scheduling``.

Searching for slots and validating a hold or booking both build their ``SlotQuery`` here and
ask the same core functions, so a slot that is offered can be booked and one that cannot be
booked is not offered (ARCHITECTURE.md principle 3). One query per table per call, no N+1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from studiobook import scheduling as core
from studiobook.bookings.models import Allocation
from studiobook.studios.errors import InvalidInput, NotFound
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
    Target,
)

# Other sources of busy time (external calendars: studiobook.calendars registers one). Each is
# called as source(studio, room_ids, staff_ids, start, end) and returns (kind, id, Interval)
# triples, kind "room" or "staff". They block like another booking's allocation: the session
# widened by its buffers (the larger of the service's and the resource's, per side) may not
# overlap them, so an engineer with a 15-minute buffer is not offered a session that ends
# at, or 10 minutes before, an outside appointment (docs/calendars.md).
BusySource = Callable[..., list[tuple[str, int, core.Interval]]]
BUSY_SOURCES: list[BusySource] = []


def register_busy_source(source: BusySource) -> None:
    if source not in BUSY_SOURCES:
        BUSY_SOURCES.append(source)


@dataclass(frozen=True)
class Exclusions:
    """Holds or bookings whose own allocations must not block the query (a hold being
    converted, a booking being moved)."""

    hold_ids: frozenset[int] = field(default_factory=frozenset)
    booking_ids: frozenset[int] = field(default_factory=frozenset)


def _rule(row: ScheduleRule) -> core.WeeklyRule:
    return core.WeeklyRule(
        weekdays=frozenset(row.weekdays),
        start_time=row.start_time,
        end_time=row.end_time,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
    )


def _interval(start: datetime, end: datetime, label: str) -> core.Interval:
    return core.Interval(start=start, end=end, label=label)


Key = tuple[str, int | None]  # (Target, room or staff id; None for the studio)


def schedule_rules(studio: Studio) -> dict[Key, list[core.WeeklyRule]]:
    """The studio's working-hour rules as core ``WeeklyRule``s, by target: ``(Target.STUDIO,
    None)``, ``(Target.ROOM, room_id)``, ``(Target.STAFF, staff_id)``. A resource with no key
    follows the studio's hours. One query."""
    rules_by: dict[Key, list[core.WeeklyRule]] = defaultdict(list)
    for row in ScheduleRule.objects.for_studio(studio):
        rules_by[(row.target_type, row.room_id or row.staff_id)].append(_rule(row))
    return rules_by


def blackouts_by_target(studio: Studio, start: datetime, end: datetime
                        ) -> dict[Key, list[core.Interval]]:
    """The studio's blackouts overlapping ``[start, end)`` (UTC), by target as
    :func:`schedule_rules`, labelled with their reason. One query."""
    blackouts_by: dict[Key, list[core.Interval]] = defaultdict(list)
    for row in Blackout.objects.for_studio(studio).filter(start_at__lt=end, end_at__gt=start):
        blackouts_by[(row.target_type, row.room_id or row.staff_id)].append(
            _interval(row.start_at, row.end_at, f"blackout: {row.reason or 'unavailable'}"))
    return blackouts_by


def buffer_minutes(studio: Studio) -> tuple[dict[Key, tuple[int, int]],
                                            dict[int, tuple[int, int]]]:
    """``(by_resource, by_service)``: the ``(before, after)`` buffer minutes of each room or
    engineer (key as :func:`schedule_rules`) and of each service id. Several rules for one
    target combine by taking the largest before and the largest after. One query."""
    by_resource: dict[Key, tuple[int, int]] = {}
    by_service: dict[int, tuple[int, int]] = {}
    for row in BufferRule.objects.for_studio(studio):
        table, key = ((by_service, row.service_id) if row.scope == BufferRule.Scope.SERVICE
                      else (by_resource, (row.scope, row.room_id or row.staff_id)))
        old = table.get(key, (0, 0))
        table[key] = (max(old[0], row.before_minutes), max(old[1], row.after_minutes))
    return by_resource, by_service


def candidate_rooms(studio: Studio, service: Service, room_id: int | None) -> list[Room]:
    """Active rooms with every tag the service needs; ``room_id`` narrows to one (404 when it
    is not a room of this studio, 422 when it does not suit the service)."""
    rooms = [r for r in Room.objects.for_studio(studio).filter(is_active=True)
             if r.has_tags(service.room_tags)]
    if room_id is None:
        return rooms
    chosen = [r for r in rooms if r.id == room_id]
    if not chosen:
        if not Room.objects.for_studio(studio).filter(id=room_id).exists():
            raise NotFound(f"room {room_id} not found at this studio", field="room_id")
        raise InvalidInput(
            f"room {room_id} is inactive or lacks the tags {service.room_tags} that "
            f"{service.name} needs", field="room_id", rule="room_unsuitable")
    return chosen


def candidate_engineers(studio: Studio, service: Service, *, skill: str | None,
                        staff_ids: list[int] | None) -> list[StaffMember]:
    """Active engineers with the service's skill (and ``skill`` when asked for)."""
    needed = [s for s in (service.staff_skill_required, skill) if s]
    staff = [s for s in StaffMember.objects.for_studio(studio).filter(is_active=True)
             if all(s.has_skill(k) for k in needed)]
    if staff_ids is None:
        return staff
    by_id = {s.id: s for s in staff}
    missing = [i for i in staff_ids if i not in by_id]
    if missing:
        if StaffMember.objects.for_studio(studio).filter(id__in=missing).count() != len(
                set(missing)):
            raise NotFound(f"staff {missing} not found at this studio", field="staff_ids")
        raise InvalidInput(f"staff {missing} inactive or lacking the skill {needed}",
                           field="staff_ids", rule="staff_unsuitable")
    return [by_id[i] for i in staff_ids]


def build_query(
    *,
    studio: Studio,
    service: Service,
    duration_minutes: int,
    range_start: datetime,
    range_end: datetime,
    now: datetime,
    room_id: int | None = None,
    staff_ids: list[int] | None = None,
    staff_skill: str | None = None,
    exclude: Exclusions = Exclusions(),
) -> core.SlotQuery:
    """The core query for slots of ``service`` lasting ``duration_minutes`` that start in
    [range_start, range_end) (UTC), as the studio stands at ``now``.

    Raises NotFound for another studio's room or staff id, InvalidInput for unsuitable ones.
    """
    rooms = candidate_rooms(studio, service, room_id) if service.requires_room else None
    engineers = (candidate_engineers(studio, service, skill=staff_skill, staff_ids=staff_ids)
                 if service.requires_engineer else None)
    room_ids = [r.id for r in rooms or []]
    engineer_ids = [s.id for s in engineers or []]

    rules_by = schedule_rules(studio)

    # Busy time can reach back a duration plus buffers before range_start; a day either side
    # covers every duration and buffer we allow.
    window_start = range_start - timedelta(days=1)
    window_end = range_end + timedelta(minutes=duration_minutes) + timedelta(days=1)

    blackouts_by = blackouts_by_target(studio, window_start, window_end)

    busy_by: dict[tuple[str, int], list[core.Interval]] = defaultdict(list)
    # External busy time counts as busy, not as a blackout: the core widens the session by
    # its buffers against busy time only, as it does against other bookings.
    for source in BUSY_SOURCES:
        for kind, resource_id, interval in source(studio, room_ids, engineer_ids,
                                                  window_start, window_end):
            busy_by[(kind, resource_id)].append(interval)

    allocations = (
        Allocation.objects.blocking(now)
        .filter(Q(room_id__in=room_ids) | Q(staff_id__in=engineer_ids))
        .filter(start_at__lt=window_end, end_at__gt=window_start)
        .exclude(hold_id__in=exclude.hold_ids)
        .exclude(booking_id__in=exclude.booking_ids)
        .values_list("room_id", "staff_id", "start_at", "end_at", "booking_id")
    )
    for room, staff, start, end, booking_id in allocations:
        # Error messages reach artists: say what kind of thing is in the way, never whose
        # (a booking code or hold id is another customer's).
        label = "another booking" if booking_id else "a hold"
        key = (Target.ROOM, room) if room else (Target.STAFF, staff)
        busy_by[key].append(_interval(start, end, label))

    buffers_by, service_buffers = buffer_minutes(studio)
    service_before, service_after = service_buffers.get(service.id, (0, 0))

    def resource(kind: str, obj) -> core.ResourceInput:
        key = (kind, obj.id)
        before, after = buffers_by.get(key, (0, 0))
        return core.ResourceInput(
            id=obj.id,
            rules=tuple(rules_by[key]) if key in rules_by else None,
            blackouts=tuple(blackouts_by.get(key, ())),
            busy=tuple(sorted(busy_by.get(key, ()), key=lambda i: i.start)),
            buffer_before_minutes=before,
            buffer_after_minutes=after,
            name=str(obj),
        )

    return core.SlotQuery(
        zone=studio.time_zone,
        range_start=range_start,
        range_end=range_end,
        now=now,
        duration_minutes=duration_minutes,
        studio_rules=tuple(rules_by.get((Target.STUDIO, None), ())),
        studio_blackouts=tuple(blackouts_by.get((Target.STUDIO, None), ())),
        rooms=tuple(resource(Target.ROOM, r) for r in rooms) if rooms is not None else None,
        engineers=(tuple(resource(Target.STAFF, s) for s in engineers)
                   if engineers is not None else None),
        grid_minutes=studio.slot_grid_minutes,
        lead_time_minutes=studio.lead_time_minutes,
        horizon_days=studio.horizon_days,
        buffer_before_minutes=service_before,
        buffer_after_minutes=service_after,
        price=core.PriceRule(unit=service.price_unit, amount_minor=service.base_price_minor),
    )


def validate_duration(service: Service, duration_minutes: int) -> None:
    """Raises InvalidInput (field ``duration_min``) when the duration breaks the service's
    min/max/step (recording-studio-prd.md section 7.4)."""
    try:
        core.validate_duration(
            duration_minutes,
            minimum=service.min_duration_minutes,
            maximum=service.max_duration_minutes,
            step=service.duration_step_minutes,
        )
    except core.InvalidDuration as error:
        raise InvalidInput(str(error), field="duration_min", rule="duration") from error


def search(*, studio: Studio, service: Service, duration_minutes: int,
           range_start: datetime, range_end: datetime, now: datetime,
           room_id: int | None = None, staff_skill: str | None = None,
           staff_ids: list[int] | None = None,
           exclude: Exclusions = Exclusions()) -> tuple[core.SlotQuery, list[core.Slot]]:
    """The core query for the arguments (see ``build_query``; ``exclude`` names holds and
    bookings whose time counts as free, e.g. the booking being moved) and the free slots the
    core finds in it: for pages that draw the day (hours, blackouts, busy time) beside the
    slots, from one read of the database. Raises InvalidInput for a duration off the
    service's rules, and what ``build_query`` raises.

    An empty range (a local day the zone skips, like Pacific/Apia's 2011-12-30, starts and
    ends at the same instant) has no slots: the query then covers the instant itself."""
    validate_duration(service, duration_minutes)
    if range_end <= range_start:
        query = build_query(
            studio=studio, service=service, duration_minutes=duration_minutes,
            range_start=range_start, range_end=range_start + timedelta(minutes=1), now=now,
            room_id=room_id, staff_skill=staff_skill, staff_ids=staff_ids, exclude=exclude)
        return query, []
    query = build_query(
        studio=studio, service=service, duration_minutes=duration_minutes,
        range_start=range_start, range_end=range_end, now=now, room_id=room_id,
        staff_skill=staff_skill, staff_ids=staff_ids, exclude=exclude,
    )
    return query, core.find_slots(query)


def search_slots(**arguments) -> list[core.Slot]:
    """Free slots, as the core computes them: :func:`search` without the query."""
    return search(**arguments)[1]
