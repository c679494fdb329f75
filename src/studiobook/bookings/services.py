"""Every booking operation: hold, book, approve, reject, cancel, complete, mark no-show,
assign staff, release and sweep holds.

Each public function is keyword-only, runs in one durable transaction, writes its AuditLog
row inside it, and raises ``studiobook.studios.errors.DomainError`` subclasses. Three layers
keep a resource from being double-booked (ARCHITECTURE.md principle 3, CONVENTIONS.md
"Concurrency"):

1. the core re-checks the slot inside the transaction (same code as the search);
2. writers for the same room or engineer are serialised: PostgreSQL advisory transaction locks
   per resource, taken in sorted order; on SQLite every transaction is BEGIN IMMEDIATE;
3. on PostgreSQL the exclusion constraint on ``Allocation`` is the backstop, and its violation
   becomes ``SlotUnavailable``, never a 500.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from studiobook import limits
from studiobook import scheduling as core
from studiobook.bookings import events, policies, pricing
from studiobook.bookings.availability import Exclusions, build_query, validate_duration
from studiobook.bookings.billing import billing
from studiobook.bookings.errors import (
    HoldLimitReached,
    HoldNotActive,
    IllegalTransition,
    ResourceBusy,
    SessionNotStarted,
    SlotUnavailable,
    UnpaidLimitReached,
)
from studiobook.bookings.models import (
    Allocation,
    Booking,
    BookingLineItem,
    BookingStaff,
    Hold,
)
from studiobook.studios import audit
from studiobook.studios.errors import Conflict, Forbidden, InvalidInput, NotFound
from studiobook.studios.models import Service, Studio
from studiobook.studios.permissions import is_admin, is_team, require_admin, require_team

Status = Booking.Status

# The booking state machine (recording-studio-prd.md sections 6, 7.7 and 20): one table.
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.AWAITING_APPROVAL, "approve"): Status.CONFIRMED,
    (Status.AWAITING_APPROVAL, "reject"): Status.REJECTED,
    (Status.AWAITING_APPROVAL, "cancel"): Status.CANCELED,
    (Status.CONFIRMED, "cancel"): Status.CANCELED,
    (Status.CONFIRMED, "complete"): Status.COMPLETED,
    (Status.CONFIRMED, "mark_no_show"): Status.NO_SHOW,
}

# Actions that record what happened at the session, allowed only from its start on (for
# every role and path): marking a future booking completed or no-show would free its slot
# for someone else and take the artist's cancellation away (issue 9).
AFTER_START_ACTIONS = frozenset({"complete", "mark_no_show"})

EVENT_OF_ACTION = {
    "approve": "booking.confirmed",
    "reject": "booking.rejected",
    "cancel": "booking.canceled",
    "complete": "booking.completed",
    "mark_no_show": "booking.no_show",
}

LOCK_TIMEOUT = "5s"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone
EXCLUSION_VIOLATION = "23P01"
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"  # should not happen (one lock order); a 409, never a 500


def next_status(status: str, action: str) -> str:
    """The status ``action`` leads to from ``status``; raises IllegalTransition otherwise."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} a booking that is {status}",
            extra={"current_status": status, "action": action},
        ) from None


def can_transition(booking: Booking, action: str, now: datetime) -> bool:
    """Whether ``action`` is allowed on ``booking`` at ``now`` (UTC): its status allows it
    (``TRANSITIONS``) and, for ``AFTER_START_ACTIONS``, the session has started. The pages
    offer an action only when this holds."""
    return ((booking.status, action) in TRANSITIONS
            and (action not in AFTER_START_ACTIONS or now >= booking.start_at))


def check_transition(booking: Booking, action: str, now: datetime) -> str:
    """The status ``action`` leads ``booking`` to at ``now``; raises IllegalTransition (the
    status does not allow it) or SessionNotStarted (completed or no-show before the start,
    the start given in the studio's zone)."""
    status = next_status(booking.status, action)
    if action in AFTER_START_ACTIONS and now < booking.start_at:
        zone = ZoneInfo(booking.studio.time_zone)
        local = booking.start_at.astimezone(zone)
        verb = "mark as completed" if action == "complete" else "mark as a no-show"
        raise SessionNotStarted(
            f"you can {verb} only once the session has started; it starts "
            f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({booking.studio.time_zone})",
            extra={"current_status": booking.status, "action": action,
                   "start_at": booking.start_at.astimezone(UTC).isoformat()})
    return status


# --- the reservation core shared by holds and bookings ---------------------------------------

@dataclass(frozen=True)
class Reservation:
    """What a hold or booking will occupy: the session (UTC) and one span per resource."""

    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: tuple[int, ...]
    spans: tuple[tuple[str, int, core.Interval], ...]  # ("room"|"staff", id, widened span)


def _int4(key: int) -> int:
    """``key`` wrapped into PostgreSQL's int4 (``pg_advisory_xact_lock(int, int)`` takes no
    bigint): unchanged for ids below 2**31; a larger or negative id (a typo in a request,
    checked afterwards) shares a lock with another one, which only serialises a little more."""
    return (key + 2**31) % 2**32 - 2**31


def _lock_resources(room_ids: Iterable[int], staff_ids: Iterable[int], user_id: int | None
                    ) -> None:
    """Serialise writers per room, engineer and artist on PostgreSQL. Keys are taken sorted so
    that two transactions never wait on each other in a cycle. SQLite needs nothing here: its
    IMMEDIATE transactions already admit one writer at a time."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({(1, _int4(r)) for r in room_ids} | {(2, _int4(s)) for s in staff_ids}
                  | ({(3, _int4(user_id))} if user_id else set()))
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for namespace, key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])


def _expire_stale_holds(now: datetime, *, room_ids=(), staff_ids=()) -> None:
    """Mark holds on these resources past ``expires_at`` expired and stop their allocations
    blocking. Called inside the writer's transaction before it inserts, because the exclusion
    constraint cannot see time (ARCHITECTURE.md principle 3)."""
    stale = list(
        Allocation.objects.filter(Q(room_id__in=list(room_ids)) | Q(staff_id__in=list(staff_ids)),
                                  hold__isnull=False, is_blocking=True, expires_at__lte=now)
        .values_list("hold_id", flat=True).distinct()
    )
    if stale:
        Hold.objects.filter(id__in=stale, status=Hold.Status.ACTIVE).update(
            status=Hold.Status.EXPIRED)
        Allocation.objects.filter(hold_id__in=stale).update(is_blocking=False)


def _choose(*, studio: Studio, service: Service, start_at: datetime, duration_minutes: int,
            now: datetime, room_id: int | None, staff_ids: list[int] | None,
            exclude: Exclusions, override: bool) -> Reservation:
    """Pick the room and engineers for a session starting at ``start_at`` and check, with the
    same core predicates the search uses, that they are free. Raises SlotUnavailable naming
    the rule and conflict, InvalidInput or NotFound for bad ids."""
    query = build_query(
        studio=studio, service=service, duration_minutes=duration_minutes,
        range_start=start_at, range_end=start_at + timedelta(seconds=1), now=now,
        room_id=room_id, staff_ids=staff_ids, exclude=exclude,
    )
    end_at = start_at + timedelta(minutes=duration_minutes)
    rooms = {r.id: r for r in query.rooms or ()}
    engineers = {e.id: e for e in query.engineers or ()}
    _check_chosen_ids(service, query, room_id, staff_ids, rooms, engineers)

    if override:
        chosen_room = (room_id or min(rooms, default=None)) if query.rooms is not None else None
        chosen_staff = tuple(staff_ids or ([min(engineers)] if engineers else []))
        if query.rooms is not None and chosen_room is None:
            raise InvalidInput("no room suits this service", field="room_id", rule="required")
        if query.engineers is not None and not chosen_staff:
            raise InvalidInput("no engineer suits this service", field="staff_ids",
                               rule="required")
    else:
        slots = [s for s in core.find_slots(query) if s.start == start_at]
        if staff_ids:
            slots = [s for s in slots if set(staff_ids) <= set(s.staff_ids)]
        if not slots:
            raise _unavailable(query, start_at, room_id, staff_ids)
        slot = slots[0]
        chosen_room = slot.room_id
        chosen_staff = tuple(staff_ids) if staff_ids else slot.staff_ids[:1]

    spans = []
    if chosen_room is not None:
        before, after = core.effective_buffers(query, rooms[chosen_room])
        spans.append(("room", chosen_room,
                      core.allocation_span(start_at, end_at, before, after)))
    for staff_id in chosen_staff:
        before, after = core.effective_buffers(query, engineers[staff_id])
        spans.append(("staff", staff_id, core.allocation_span(start_at, end_at, before, after)))
    return Reservation(start_at, end_at, chosen_room, chosen_staff, tuple(spans))


def _check_chosen_ids(service: Service, query: core.SlotQuery, room_id: int | None,
                      staff_ids: list[int] | None, rooms: dict, engineers: dict) -> None:
    """A room or engineers asked for must be ones the query knows: InvalidInput when the
    service takes none, NotFound for an id that is not one of the studio's candidates (the
    core would raise InvalidQuery, a 500)."""
    if room_id is not None:
        if query.rooms is None:
            raise InvalidInput(f"{service.name} uses no room; leave room_id out",
                               field="room_id", rule="not_applicable")
        if room_id not in rooms:
            raise NotFound(f"room {room_id} is not a room for {service.name}", field="room_id")
    for staff_id in staff_ids or ():
        if query.engineers is None:
            raise InvalidInput(f"{service.name} needs no engineer; leave staff_ids out",
                               field="staff_ids", rule="not_applicable")
        if staff_id not in engineers:
            raise NotFound(f"staff {staff_id} is not an engineer for {service.name}",
                           field="staff_ids")


def _reserve(*, studio: Studio, service: Service, start_at: datetime, duration_minutes: int,
             now: datetime, room_id: int | None, staff_ids: list[int] | None,
             exclude: Exclusions, user_id: int | None, override: bool = False,
             after_lock: Callable[[], None] | None = None) -> Reservation:
    """Inside the writer's transaction: choose the room and engineers, lock them (and the
    artist), expire stale holds on them, run ``after_lock`` (a check that must hold the
    locks), then re-check the slot. The re-check matters on PostgreSQL, where the first
    choice ran before the locks were held; on SQLite the whole transaction is BEGIN IMMEDIATE,
    so the first choice already saw the final state and checking again would only lengthen
    the database-wide write lock."""
    probe = _choose(studio=studio, service=service, start_at=start_at,
                    duration_minutes=duration_minutes, now=now, room_id=room_id,
                    staff_ids=staff_ids, exclude=exclude, override=override)
    rooms = [probe.room_id] if probe.room_id else []
    _lock_resources(rooms, probe.staff_ids, user_id)
    _expire_stale_holds(now, room_ids=rooms, staff_ids=probe.staff_ids)
    if after_lock is not None:
        after_lock()
    if override or connection.vendor != "postgresql":
        return probe
    return _choose(studio=studio, service=service, start_at=start_at,
                   duration_minutes=duration_minutes, now=now, room_id=probe.room_id,
                   staff_ids=list(probe.staff_ids), exclude=exclude, override=False)


def _unavailable(query: core.SlotQuery, start_at: datetime, room_id: int | None,
                 staff_ids: list[int] | None) -> SlotUnavailable:
    candidates_room = [room_id] if room_id is not None else (
        [r.id for r in query.rooms] if query.rooms else [None])
    for staff_id in staff_ids or [None]:
        for candidate in candidates_room:
            reason = core.explain_unavailable(query, start_at, candidate, staff_id)
            if reason is not None:
                return SlotUnavailable(reason.message, field="start_at",
                                       extra={"reason": reason.code})
    return SlotUnavailable("this slot is not available", field="start_at",
                           extra={"reason": "busy"})


def _insert_allocations(*, studio: Studio, reservation: Reservation, booking=None, hold=None,
                        override: bool = False) -> None:
    Allocation.objects.bulk_create([
        Allocation(
            studio=studio, booking=booking, hold=hold,
            room_id=resource_id if kind == "room" else None,
            staff_id=resource_id if kind == "staff" else None,
            start_at=span.start, end_at=span.end,
            expires_at=hold.expires_at if hold else None,
            is_override=override,
        )
        for kind, resource_id, span in reservation.spans
    ])


def _translate_database_errors(error: Exception) -> Exception:
    """A lost race reaches us as the exclusion constraint or a lock timeout: both are 409s."""
    sqlstate = getattr(getattr(error, "__cause__", None), "sqlstate", None)
    if sqlstate == EXCLUSION_VIOLATION:
        return SlotUnavailable("this slot was just taken by someone else", field="start_at",
                               extra={"reason": "busy"})
    if sqlstate in (LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED):
        return ResourceBusy("the room or engineer is being booked right now; try again")
    return error


def _allocation_spans(allocations) -> list:
    return [("room" if a.room_id else "staff", a.room_id or a.staff_id,
             core.Interval(a.start_at, a.end_at)) for a in allocations]


def _check_start(start_at: datetime) -> None:
    """A start with an offset inside ``studiobook.limits`` (the studio's horizon is the
    core's own check, after this one)."""
    try:
        limits.instant(start_at)
    except limits.OutOfRange as error:
        raise InvalidInput(f"start_at {error.message}", field="start_at",
                           rule=error.rule) from None


# --- what one artist may keep unpaid (issue 9, section 4) ------------------------------------

UNPAID_STATUSES = (Status.AWAITING_APPROVAL, Status.CONFIRMED)


def is_limited_artist(*, actor, studio: Studio, source: str = Booking.Source.WEB,
                      artist=None, override: bool = False) -> bool:
    """Whether the unpaid-booking limits and the first-booking rule apply: to an artist
    booking for themselves; not to a studio's team (admins and staff), to bookings an admin
    makes for someone (``source=admin``, another ``artist``) or to overrides: the studio
    decided those itself."""
    if override or source == Booking.Source.ADMIN or (artist is not None and artist != actor):
        return False
    return not is_team(actor, studio)


def unpaid_bookings(*, studio: Studio, artist, now: datetime) -> list[Booking]:
    """``artist``'s unpaid bookings at ``studio``: active (confirmed or awaiting approval),
    not yet over at ``now`` (UTC), with a price, and nothing paid (``billing().paid_minor``,
    captured minus refunded, is 0)."""
    candidates = Booking.objects.filter(studio=studio, user=artist, status__in=UNPAID_STATUSES,
                                        end_at__gt=now, total_minor__gt=0)
    paying = billing()
    return [b for b in candidates if paying.paid_minor(b) == 0]


def check_unpaid_limits(*, studio: Studio, artist, adding_minutes: int,
                        now: datetime) -> None:
    """Refuse one more unpaid booking of ``adding_minutes`` for ``artist`` at ``studio``
    when it would exceed ``studio.max_unpaid_bookings`` (count) or
    ``studio.max_unpaid_hours`` (total length, in minutes against hours * 60). Called with the
    artist's advisory lock held, so concurrent bookings by one artist are counted one after
    the other. Raises UnpaidLimitReached naming the rule."""
    unpaid = unpaid_bookings(studio=studio, artist=artist, now=now)
    if len(unpaid) + 1 > studio.max_unpaid_bookings:
        raise UnpaidLimitReached(
            f"you have {len(unpaid)} unpaid upcoming bookings at {studio.name}; pay or cancel "
            f"one first (limit {studio.max_unpaid_bookings})", rule="max_unpaid_bookings",
            extra={"rule": "max_unpaid_bookings", "unpaid_bookings": len(unpaid),
                   "limit": studio.max_unpaid_bookings})
    minutes = sum(int((b.end_at - b.start_at).total_seconds()) // 60 for b in unpaid)
    if minutes + adding_minutes > studio.max_unpaid_hours * 60:
        raise UnpaidLimitReached(
            f"this would make {(minutes + adding_minutes) / 60:g} hours of unpaid upcoming "
            f"sessions at {studio.name}; pay or cancel one first (limit "
            f"{studio.max_unpaid_hours} hours)", rule="max_unpaid_hours",
            extra={"rule": "max_unpaid_hours", "unpaid_minutes": minutes,
                   "adding_minutes": adding_minutes,
                   "limit_hours": studio.max_unpaid_hours})


def is_first_time_artist(*, studio: Studio, artist) -> bool:
    """True when ``artist`` has no completed booking at ``studio`` and no booking there with
    money paid (``billing().paid_minor`` above 0)."""
    mine = Booking.objects.filter(studio=studio, user=artist)
    if mine.filter(status=Status.COMPLETED).exists():
        return False
    paying = billing()
    return not any(paying.paid_minor(b) > 0 for b in mine.filter(
        status__in=(Status.CONFIRMED, Status.AWAITING_APPROVAL, Status.NO_SHOW)))


def first_booking_requirement(*, studio: Studio, artist) -> str:
    """What ``studio.first_booking_rule`` asks of this artist's booking: the rule's value
    (``Studio.FirstBookingRule``: ``approval`` or ``deposit``) when ``artist`` is a first-time
    artist here (``is_first_time_artist``), else ``none``."""
    rule = studio.first_booking_rule
    if rule == Studio.FirstBookingRule.NONE or not is_first_time_artist(studio=studio,
                                                                        artist=artist):
        return Studio.FirstBookingRule.NONE
    return rule


def first_booking_needs_approval(*, studio: Studio, artist) -> bool:
    """Whether ``studio.first_booking_rule`` makes this booking wait for approval: the rule
    is ``approval`` or ``deposit`` (which waits for the deposit) and ``artist`` is a
    first-time artist here."""
    return first_booking_requirement(studio=studio,
                                     artist=artist) != Studio.FirstBookingRule.NONE


def first_booking_wait(*, studio: Studio, service: Service, artist,
                       total_minor: int) -> tuple[bool, bool]:
    """What the first-booking rule does to a booking of ``service`` priced ``total_minor``
    (minor units) by ``artist``, an artist the rule applies to (``is_limited_artist``): a
    pair (waits for approval, confirmed by its payment). ``approval``: (True, False);
    ``deposit``: (True, True), or (True, False) when the service or studio requires approval
    anyway (an admin decides), or (False, False) for a free booking; otherwise, or for an
    artist who is not a first-timer, (False, False)."""
    requirement = first_booking_requirement(studio=studio, artist=artist)
    if requirement == Studio.FirstBookingRule.APPROVAL:
        return True, False
    if requirement == Studio.FirstBookingRule.DEPOSIT and total_minor > 0:
        return True, not needs_approval(studio, service)
    return False, False


# --- holds -------------------------------------------------------------------------------------

def place_hold(*, actor, studio: Studio, service: Service, start_at: datetime,
               duration_minutes: int, room_id: int | None = None,
               staff_ids: list[int] | None = None, now: datetime | None = None) -> Hold:
    """Hold a slot for ``studio.hold_minutes`` (recording-studio-prd.md section 7.11).

    The hold blocks its room and engineers until ``expires_at`` (UTC). An artist may keep at
    most ``studio.max_active_holds`` live holds at a studio, and a hold that would take the
    artist past the studio's unpaid-booking limits (``check_unpaid_limits``; not for the
    studio's team) is refused. Raises SlotUnavailable, HoldLimitReached, UnpaidLimitReached,
    ResourceBusy, InvalidInput, NotFound.
    """
    now = now or timezone.now()
    _check_start(start_at)
    validate_duration(service, duration_minutes)
    try:
        with transaction.atomic(durable=True):
            def within_hold_limit() -> None:
                live = Hold.objects.filter(studio=studio, user=actor, status=Hold.Status.ACTIVE,
                                           expires_at__gt=now).count()
                if live >= studio.max_active_holds:
                    raise HoldLimitReached(
                        f"you already hold {live} slots at {studio.name}; book or release "
                        f"one first (limit {studio.max_active_holds})")
                if is_limited_artist(actor=actor, studio=studio):
                    # A hold that could not become a booking is refused now, not at checkout.
                    check_unpaid_limits(studio=studio, artist=actor,
                                        adding_minutes=duration_minutes, now=now)

            reservation = _reserve(studio=studio, service=service, start_at=start_at,
                                   duration_minutes=duration_minutes, now=now, room_id=room_id,
                                   staff_ids=staff_ids, exclude=Exclusions(), user_id=actor.id,
                                   after_lock=within_hold_limit)
            hold = Hold.objects.create(
                studio=studio, token=secrets.token_urlsafe(12), user=actor, service=service,
                room_id=reservation.room_id, start_at=reservation.start_at,
                end_at=reservation.end_at, expires_at=now + timedelta(minutes=studio.hold_minutes),
            )
            _insert_allocations(studio=studio, reservation=reservation, hold=hold)
            audit.record(studio=studio, actor=actor, action="hold.place", entity="hold",
                         entity_id=hold.token,
                         diff={"start_at": start_at.isoformat(), "room_id": hold.room_id,
                               "staff_ids": list(reservation.staff_ids)})
            events.publish_availability(studio.id, reservation.spans)
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    return hold


def release_hold(*, actor, hold: Hold, now: datetime | None = None) -> Hold:
    """Give a live hold back before it expires. Raises Forbidden, HoldNotActive."""
    now = now or timezone.now()
    if hold.user_id != actor.id and not is_team(actor, hold.studio):
        raise Forbidden("this hold belongs to someone else")
    with transaction.atomic(durable=True):
        hold = Hold.objects.select_for_update().get(pk=hold.pk)
        if not hold.is_live(now):
            raise HoldNotActive(f"hold is {hold.status if hold.status != 'active' else 'expired'}")
        hold.status = Hold.Status.RELEASED
        hold.save(update_fields=["status"])
        hold.allocations.update(is_blocking=False)
        audit.record(studio=hold.studio, actor=actor, action="hold.release", entity="hold",
                     entity_id=hold.token)
        events.publish_availability(hold.studio_id, _allocation_spans(hold.allocations.all()))
    return hold


def sweep_expired_holds(*, now: datetime | None = None) -> int:
    """Mark every hold past its ``expires_at`` expired (tidying only: expired holds already
    stopped blocking when they expired). Returns how many were marked."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        stale = list(Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now)
                     .values_list("id", flat=True))
        Hold.objects.filter(id__in=stale).update(status=Hold.Status.EXPIRED)
        freed = list(Allocation.objects.filter(hold_id__in=stale, is_blocking=True))
        Allocation.objects.filter(hold_id__in=stale).update(is_blocking=False)
        for studio_id in {a.studio_id for a in freed}:
            events.publish_availability(studio_id, _allocation_spans(
                a for a in freed if a.studio_id == studio_id))
    return len(stale)


# --- bookings ----------------------------------------------------------------------------------

def _new_code() -> str:
    while True:
        code = "SB-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not Booking.objects.filter(code=code).exists():
            return code


def needs_approval(studio: Studio, service: Service) -> bool:
    """Whether an artist's booking of ``service`` waits for the studio's approval
    (recording-studio-prd.md section 7.7): the service or the whole studio requires it."""
    return bool(service.requires_approval or studio.requires_approval)


def _initial_status(studio: Studio, service: Service, source: str, *,
                    first_time_approval: bool = False) -> str:
    if source != Booking.Source.ADMIN and (needs_approval(studio, service)
                                           or first_time_approval):
        return Status.AWAITING_APPROVAL
    return Status.CONFIRMED


def create_booking(*, actor, studio: Studio, service: Service | None = None,
                   hold: Hold | None = None, start_at: datetime | None = None,
                   duration_minutes: int | None = None, room_id: int | None = None,
                   staff_ids: list[int] | None = None, notes: str = "", override: bool = False,
                   add_ons: list[tuple[Service, int]] | None = None,
                   source: str = Booking.Source.WEB, artist=None,
                   now: datetime | None = None) -> Booking:
    """Book a session, from a live hold of ``actor`` or directly.

    The booking is ``awaiting_approval`` when the service or studio requires approval, else
    ``confirmed`` (recording-studio-prd.md section 7.7); admin bookings are confirmed.
    ``override=True`` (admins only) books over conflicts: its allocations are left out of the
    exclusion constraint, show as conflicts on the calendar, and the override is audited.
    The price is the quote (``bookings.pricing``: lines, add-ons, fees, taxes, deposit) and
    it and the policies are snapshotted on the booking. ``artist`` (a User; admins only) is
    whom a studio books for: the booking, its emails and its payment are theirs; by default
    the booking is ``actor``'s. An artist booking for themselves stays within the studio's
    unpaid-booking limits (``check_unpaid_limits``, checked under the artist's lock), and with
    ``first_booking_rule = approval`` a first-time artist's booking awaits approval; with
    ``deposit`` it awaits approval with ``confirm_on_payment`` set, and paying (or
    authorizing) its due-now payment confirms it (``confirm_paid_booking``; a free booking is
    confirmed at once, and one that needs approval anyway keeps waiting for an admin); the
    studio's team, admin bookings for someone and overrides are exempt
    (``is_limited_artist``). Its payment rows are written in the booking's transaction
    (``billing().record_create``); after commit billing opens the payment at the gateway (a
    sweep does it if this process dies first). Raises SlotUnavailable, HoldNotActive,
    UnpaidLimitReached, Forbidden, InvalidInput, NotFound, ResourceBusy.
    """
    now = now or timezone.now()
    if override or source == Booking.Source.ADMIN or (artist is not None and artist != actor):
        require_admin(actor, studio)
    if hold is not None:
        if hold.studio_id != studio.id:
            raise InvalidInput("hold_id belongs to another studio", field="hold_id",
                               rule="studio")
        if hold.user_id != actor.id:
            raise Forbidden("this hold belongs to someone else")
        service = hold.service
        start_at = hold.start_at
        duration_minutes = hold.duration_minutes
        room_id = hold.room_id
        staff_ids = hold.staff_ids
    if service is None or start_at is None or duration_minutes is None:
        raise InvalidInput("give hold_id, or service_id, start_at and duration_min",
                           field="hold_id", rule="required")
    _check_start(start_at)
    validate_duration(service, duration_minutes)
    quote = pricing.quote_booking(studio=studio, service=service,
                                  duration_minutes=duration_minutes, add_ons=add_ons or ())
    try:
        with transaction.atomic(durable=True):
            if hold is not None:
                # Lock order, as every writer: resource advisory locks first, then rows. (A
                # booking that expires this hold holds the room lock and then updates the
                # hold row; taking the hold row first here deadlocked against it.)
                _lock_resources([hold.room_id] if hold.room_id else [], hold.staff_ids,
                                actor.id)
                # Row lock: two conversions of one hold queue here; the second sees it spent.
                hold = Hold.objects.select_for_update().get(pk=hold.pk)
                if not hold.is_live(now):
                    raise HoldNotActive(
                        "the hold has expired; search again and hold a new slot"
                        if hold.status in (Hold.Status.ACTIVE, Hold.Status.EXPIRED)
                        else f"the hold was already {hold.status}",
                        field="hold_id")
            exclude = Exclusions(hold_ids=frozenset({hold.id}) if hold else frozenset())
            limited = is_limited_artist(actor=actor, studio=studio, source=source,
                                        artist=artist, override=override)
            first_time_approval = confirm_on_payment = False

            def within_unpaid_limits() -> None:
                nonlocal first_time_approval, confirm_on_payment
                if limited:
                    check_unpaid_limits(studio=studio, artist=actor,
                                        adding_minutes=duration_minutes, now=now)
                    first_time_approval, confirm_on_payment = first_booking_wait(
                        studio=studio, service=service, artist=actor,
                        total_minor=quote.total_minor)

            reservation = _reserve(studio=studio, service=service, start_at=start_at,
                                   duration_minutes=duration_minutes, now=now, room_id=room_id,
                                   staff_ids=staff_ids, exclude=exclude, user_id=actor.id,
                                   override=override, after_lock=within_unpaid_limits)
            if hold is not None:
                hold.status = Hold.Status.CONVERTED
                hold.save(update_fields=["status"])
                hold.allocations.update(is_blocking=False)
            booking = Booking.objects.create(
                studio=studio, code=_new_code(), user=artist or actor, service=service,
                room_id=reservation.room_id, hold=hold,
                status=_initial_status(studio, service, source,
                                       first_time_approval=first_time_approval),
                source=source,
                start_at=reservation.start_at, end_at=reservation.end_at, notes=notes,
                currency=quote.currency, subtotal_minor=quote.subtotal_minor,
                tax_minor=quote.tax_total_minor, total_minor=quote.total_minor,
                deposit_minor=quote.deposit_minor,
                price_snapshot=pricing.quote_snapshot(quote),
                policy_snapshot=policies.snapshot(studio, service), is_override=override,
                confirm_on_payment=confirm_on_payment,
            )
            BookingStaff.objects.bulk_create(
                [BookingStaff(booking=booking, staff_id=s) for s in reservation.staff_ids])
            line_services = [service, *(a for a, _ in add_ons or ()), *([None] * len(quote.fees))]
            BookingLineItem.objects.bulk_create([
                BookingLineItem(booking=booking, service=line_service,
                                description=line.description, quantity=line.quantity,
                                unit_price_minor=line.unit_price_minor,
                                total_minor=line.total_minor)
                for line, line_service in zip((*quote.lines, *quote.fees), line_services,
                                              strict=True)
            ])
            _insert_allocations(studio=studio, reservation=reservation, booking=booking,
                                override=override)
            # Its payment rows commit with it (a crash after commit cannot lose them).
            billing().record_create(booking)
            audit.record(studio=studio, actor=actor,
                         action="booking.override" if override else "booking.create",
                         entity="booking", entity_id=booking.code,
                         diff={"status": [None, booking.status],
                               "start_at": booking.start_at.isoformat(),
                               "room_id": booking.room_id,
                               "staff_ids": list(reservation.staff_ids),
                               "hold": hold.token if hold else None})
            events.publish("booking.submitted" if booking.status == Status.AWAITING_APPROVAL
                           else "booking.confirmed", studio_id=studio.id,
                           booking_id=booking.id, approved=False)
            events.publish_availability(studio.id, reservation.spans, booking_id=booking.id)
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    billing().after_create(booking)
    return booking


def _transition(*, actor, booking: Booking, action: str, reason: str = "",
                now: datetime | None = None, details: dict | None = None,
                within: Callable[[Booking], None] | None = None, **fields) -> Booking:
    """Move ``booking`` by ``action`` under a row lock, release its allocations when the new
    status no longer blocks, and audit the change. ``within(booking)`` runs inside the same
    transaction after the change (the rows the change needs, e.g. reserved refunds)."""
    now = now or timezone.now()
    try:
        with transaction.atomic(durable=True):
            booking = Booking.objects.locked().select_related("studio").get(pk=booking.pk)
            old = booking.status
            booking.status = check_transition(booking, action, now)
            booking.status_reason = reason or booking.status_reason
            for name, value in fields.items():
                setattr(booking, name, value)
            booking.save(update_fields=["status", "status_reason", "updated_at", *fields])
            if within is not None:
                within(booking)
            if not booking.is_blocking:
                booking.allocations.update(is_blocking=False)
                events.publish_availability(booking.studio_id,
                                            _allocation_spans(booking.allocations.all()),
                                            booking_id=booking.id)
            events.publish(EVENT_OF_ACTION[action], studio_id=booking.studio_id,
                           booking_id=booking.id, reason=reason, approved=action == "approve",
                           **(details or {}))
            audit.record(studio=booking.studio, actor=actor, action=f"booking.{action}",
                         entity="booking", entity_id=booking.code,
                         diff={"status": [old, booking.status], "reason": reason,
                               **(details or {})})
    except OperationalError as error:  # a lock timeout or deadlock: a 409, never a 500
        raise _translate_database_errors(error) from error
    return booking


def approve_booking(*, actor, booking: Booking, note: str = "",
                    now: datetime | None = None) -> Booking:
    """awaiting_approval -> confirmed (admins), then billing captures the authorization or
    charges the saved card (recording-studio-prd.md 7.7, 7.8). Raises Forbidden,
    IllegalTransition."""
    require_admin(actor, booking.studio)
    now = now or timezone.now()
    booking = _transition(actor=actor, booking=booking, action="approve", now=now,
                          approved_by=actor, approved_at=now, approval_note=note)
    billing().after_approve(booking, actor)
    return booking


class _NotPaidYet(Exception):
    """Inside ``confirm_paid_booking``: the booking does not qualify; roll back."""


def confirm_paid_booking(*, booking: Booking, now: datetime | None = None) -> Booking | None:
    """awaiting_approval -> confirmed, with no user acting: the internal path by which a
    payment confirms a booking that waits only for it (``Booking.confirm_on_payment``, set by
    ``create_booking`` under ``first_booking_rule = deposit``; issue 9, section 4).

    Called by payments once a due-now payment is paid or authorized (the desk recorded it,
    or the Stripe PaymentIntent reached ``requires_capture`` or ``succeeded``). Under the
    booking's row lock it re-checks that the booking still awaits approval, has
    ``confirm_on_payment`` and that ``billing().due_now_secured`` holds; then it is the same
    transition as ``approve_booking`` (audited ``booking.approve`` with no actor,
    ``approved_by`` empty, the ``booking.confirmed`` event with ``approved=True``), and
    billing captures the authorization (``after_approve``). Returns the confirmed booking, or
    None when nothing was done: not such a booking, not paid yet, or already decided (a
    second webhook, an admin's approval or rejection first). Not a permission bypass: it
    confirms only what the studio's own rule says a payment confirms. Raises ResourceBusy
    (a lock timeout; the caller retries, e.g. Stripe redelivers)."""
    now = now or timezone.now()

    def only_if_paid(locked: Booking) -> None:
        if not locked.confirm_on_payment or not billing().due_now_secured(locked):
            raise _NotPaidYet

    try:
        booking = _transition(actor=None, booking=booking, action="approve", now=now,
                              details={"confirmed_by": "payment"}, within=only_if_paid,
                              approved_by=None, approved_at=now,
                              approval_note="confirmed by the payment of the deposit")
    except (_NotPaidYet, IllegalTransition):
        return None
    billing().after_approve(booking, None)
    return booking


def reject_booking(*, actor, booking: Booking, reason: str = "",
                   now: datetime | None = None) -> Booking:
    """awaiting_approval -> rejected (admins); frees the slot, then billing cancels the
    authorization or refunds in full (recording-studio-prd.md 7.8). Raises Forbidden,
    IllegalTransition."""
    require_admin(actor, booking.studio)
    # Everything paid goes back; the event carries the figure so messages need not redo it.
    refund = billing().paid_minor(booking)
    booking = _transition(actor=actor, booking=booking, action="reject", reason=reason, now=now,
                          details={"refund_minor": refund},
                          within=lambda locked: billing().record_cancel(
                              locked, actor, refund, "booking rejected"))
    billing().after_reject(booking, actor)
    return booking


@dataclass(frozen=True)
class CancellationPreview:
    """What canceling now would do: ``refund_minor`` of ``paid_minor`` (minor units)."""

    refund_percent: int
    refund_minor: int
    paid_minor: int
    summary: str
    deadline: datetime | None


def preview_cancellation(*, actor, booking: Booking,
                         now: datetime | None = None) -> CancellationPreview:
    """The refund a cancellation by ``actor`` at ``now`` would give. The artist gets the
    booking's snapshotted policy, evaluated in the studio's zone; a studio admin canceling
    refunds everything (the studio called it off). Nothing is written. Raises Forbidden,
    IllegalTransition."""
    now = now or timezone.now()
    is_artist = booking.user_id == actor.id
    if not is_artist and not is_admin(actor, booking.studio):
        raise Forbidden("only the artist or a studio admin may cancel this booking")
    next_status(booking.status, "cancel")
    paid = billing().paid_minor(booking)
    if not is_artist:
        return CancellationPreview(100, paid, paid, "Canceled by the studio: full refund.", None)
    cancellation, _ = policies.booking_policies(booking)
    outcome = core.policies.cancellation_outcome(
        cancellation, start_at=booking.start_at, now=now, zone=booking.studio.time_zone,
        paid_minor=paid)
    return CancellationPreview(outcome.refund_percent, outcome.refund_minor, paid,
                               outcome.summary, outcome.deadline)


def cancel_booking(*, actor, booking: Booking, reason: str = "",
                   expected_refund_minor: int | None = None,
                   now: datetime | None = None) -> tuple[Booking, CancellationPreview]:
    """awaiting_approval | confirmed -> canceled, by its artist or a studio admin; frees the
    slot and refunds what ``preview_cancellation`` says. With ``expected_refund_minor`` (the
    preview's figure) the cancellation goes ahead only if the refund is still exactly that
    (a deadline may have passed since the preview): otherwise Conflict and nothing changes.
    Raises Forbidden, IllegalTransition, Conflict."""
    now = now or timezone.now()
    preview = preview_cancellation(actor=actor, booking=booking, now=now)
    if expected_refund_minor is not None and expected_refund_minor != preview.refund_minor:
        raise Conflict(
            f"the refund is now {preview.refund_minor}, not {expected_refund_minor}: "
            "preview again", field="expected_refund_cents",
            extra={"refund_cents": preview.refund_minor})
    booking = _transition(actor=actor, booking=booking, action="cancel", reason=reason, now=now,
                          details={"refund_minor": preview.refund_minor,
                                   "refund_percent": preview.refund_percent},
                          within=lambda locked: billing().record_cancel(
                              locked, actor, preview.refund_minor, "booking canceled"))
    billing().after_cancel(booking, actor, preview.refund_minor)
    return booking, preview


@dataclass(frozen=True)
class ReschedulePreview:
    """What moving the booking to ``start_at`` would do: the new slot and the fee (minor
    units) under the reschedule policy."""

    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: tuple[int, ...]
    is_free: bool
    fee_minor: int
    summary: str


def _reschedule_terms(*, actor, booking: Booking, now: datetime) -> tuple[bool, int, str]:
    is_artist = booking.user_id == actor.id
    if not is_artist and not is_admin(actor, booking.studio):
        raise Forbidden("only the artist or a studio admin may reschedule this booking")
    if not booking.is_blocking:
        raise IllegalTransition(f"cannot reschedule a booking that is {booking.status}")
    if not is_artist:
        return True, 0, "Moved by the studio: no fee."
    _, reschedule = policies.booking_policies(booking)
    outcome = core.policies.reschedule_outcome(
        reschedule, start_at=booking.start_at, now=now, zone=booking.studio.time_zone,
        reschedules_done=booking.reschedule_count, total_minor=booking.total_minor)
    if not outcome.is_allowed:
        raise Conflict(outcome.summary, field="start_at", extra={"reason": "policy"})
    return outcome.is_free, outcome.fee_minor, outcome.summary


def preview_reschedule(*, actor, booking: Booking, start_at: datetime,
                       room_id: int | None = None, staff_ids: list[int] | None = None,
                       now: datetime | None = None) -> ReschedulePreview:
    """Check that the booking can move to ``start_at`` (same service and duration; the room
    and engineers given, else any free ones) and what it would cost. Writes nothing. Raises
    Forbidden, IllegalTransition, Conflict (policy), SlotUnavailable, InvalidInput."""
    now = now or timezone.now()
    _check_start(start_at)
    is_free, fee, summary = _reschedule_terms(actor=actor, booking=booking, now=now)
    reservation = _choose(studio=booking.studio, service=booking.service, start_at=start_at,
                          duration_minutes=booking.duration_minutes, now=now, room_id=room_id,
                          staff_ids=staff_ids,
                          exclude=Exclusions(booking_ids=frozenset({booking.id})),
                          override=False)
    return ReschedulePreview(reservation.start_at, reservation.end_at, reservation.room_id,
                             reservation.staff_ids, is_free, fee, summary)


def reschedule_booking(*, actor, booking: Booking, start_at: datetime,
                       room_id: int | None = None, staff_ids: list[int] | None = None,
                       expected_fee_minor: int | None = None,
                       now: datetime | None = None) -> tuple[Booking, ReschedulePreview]:
    """Move the booking to ``start_at`` (recording-studio-prd.md 7.10): the new slot is
    checked and taken in one transaction like a new booking, the old time is freed, and the
    fee ``preview_reschedule`` shows is charged after commit. With ``expected_fee_minor`` the
    move happens only if the fee is still exactly that. Raises as ``preview_reschedule`` and
    Conflict when the fee changed."""
    now = now or timezone.now()
    preview = preview_reschedule(actor=actor, booking=booking, start_at=start_at,
                                 room_id=room_id, staff_ids=staff_ids, now=now)
    if expected_fee_minor is not None and expected_fee_minor != preview.fee_minor:
        raise Conflict(f"the fee is now {preview.fee_minor}, not {expected_fee_minor}: "
                       "preview again", field="expected_fee_cents",
                       extra={"fee_cents": preview.fee_minor})
    studio = booking.studio
    exclude = Exclusions(booking_ids=frozenset({booking.id}))
    try:
        with transaction.atomic(durable=True):
            _lock_resources([preview.room_id] if preview.room_id else [], preview.staff_ids,
                            None)
            _expire_stale_holds(now, room_ids=[preview.room_id] if preview.room_id else [],
                                staff_ids=preview.staff_ids)
            locked = Booking.objects.locked().get(pk=booking.pk)
            if not locked.is_blocking:
                raise IllegalTransition(f"cannot reschedule a booking that is {locked.status}")
            reservation = _choose(studio=studio, service=booking.service, start_at=start_at,
                                  duration_minutes=booking.duration_minutes, now=now,
                                  room_id=preview.room_id, staff_ids=list(preview.staff_ids),
                                  exclude=exclude, override=False)
            old = {"start_at": locked.start_at.isoformat(), "room_id": locked.room_id,
                   "end_at": locked.end_at.isoformat()}
            events.publish_availability(studio.id, _allocation_spans(locked.allocations.all()),
                                  booking_id=locked.id)
            locked.allocations.all().delete()
            locked.assignments.all().delete()
            locked.start_at, locked.end_at = reservation.start_at, reservation.end_at
            locked.room_id = reservation.room_id
            if locked.user_id == actor.id:
                locked.reschedule_count += 1
            locked.save(update_fields=["start_at", "end_at", "room", "reschedule_count",
                                       "updated_at"])
            BookingStaff.objects.bulk_create(
                [BookingStaff(booking=locked, staff_id=s) for s in reservation.staff_ids])
            _insert_allocations(studio=studio, reservation=reservation, booking=locked,
                                override=locked.is_override)
            billing().record_reschedule(locked, preview.fee_minor)
            audit.record(studio=studio, actor=actor, action="booking.reschedule",
                         entity="booking", entity_id=locked.code,
                         diff={"start_at": [old["start_at"], locked.start_at.isoformat()],
                               "room_id": [old["room_id"], locked.room_id],
                               "fee_minor": preview.fee_minor})
            events.publish_availability(studio.id, reservation.spans, booking_id=locked.id)
            events.publish("booking.rescheduled", studio_id=studio.id, booking_id=locked.id,
                           old_start_at=old["start_at"], old_end_at=old["end_at"])
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    billing().after_reschedule(locked, actor, preview.fee_minor)
    return locked, preview


def complete_booking(*, actor, booking: Booking, now: datetime | None = None) -> Booking:
    """confirmed -> completed (staff or admins), once the session has started. Raises
    Forbidden, IllegalTransition, SessionNotStarted."""
    require_team(actor, booking.studio)
    return _transition(actor=actor, booking=booking, action="complete", now=now)


def mark_no_show(*, actor, booking: Booking, now: datetime | None = None) -> Booking:
    """confirmed -> no_show (staff or admins), once the session has started; frees the
    rest of the slot. Raises Forbidden, IllegalTransition, SessionNotStarted."""
    require_team(actor, booking.studio)
    return _transition(actor=actor, booking=booking, action="mark_no_show", now=now)


def assign_staff(*, actor, booking: Booking, staff_ids: list[int], override: bool = False,
                 now: datetime | None = None) -> Booking:
    """Replace the engineers of a blocking booking (admins; recording-studio-prd.md story 9).
    Each new engineer must be free, buffers included, unless ``override``. Raises Forbidden,
    IllegalTransition, SlotUnavailable, InvalidInput, NotFound."""
    require_admin(actor, booking.studio)
    now = now or timezone.now()
    if not booking.is_blocking:
        raise IllegalTransition(f"cannot assign staff to a booking that is {booking.status}")
    studio, service = booking.studio, booking.service
    if not staff_ids and service.requires_engineer:
        raise InvalidInput(f"{service.name} needs an engineer", field="staff_ids",
                           rule="required")
    try:
        with transaction.atomic(durable=True):
            _lock_resources([], staff_ids, None)
            query = build_query(
                studio=studio, service=service, duration_minutes=booking.duration_minutes,
                range_start=booking.start_at, range_end=booking.start_at + timedelta(seconds=1),
                now=now, staff_ids=staff_ids, room_id=booking.room_id,
                exclude=Exclusions(booking_ids=frozenset({booking.id})),
            )
            engineers = {e.id: e for e in query.engineers or ()}
            unknown = [s for s in staff_ids if s not in engineers]
            if unknown:
                raise NotFound(f"staff {unknown[0]} is not an engineer of {studio.name}",
                               field="staff_ids")
            if not override:
                # Admins may move a booking's engineer regardless of lead time; what matters
                # is that each engineer is within hours and free.
                relaxed = replace(query, lead_time_minutes=0, horizon_days=36500)
                for staff_id in staff_ids:
                    reason = core.explain_unavailable(relaxed, booking.start_at,
                                                      booking.room_id, staff_id)
                    if reason is not None:
                        raise SlotUnavailable(reason.message, field="staff_ids",
                                              extra={"reason": reason.code})
            old = sorted(booking.assignments.values_list("staff_id", flat=True))
            booking.assignments.all().delete()
            booking.allocations.filter(staff__isnull=False).delete()
            BookingStaff.objects.bulk_create(
                [BookingStaff(booking=booking, staff_id=s) for s in staff_ids])
            spans = {s: _engineer_span(query, engineers[s], booking) for s in staff_ids}
            Allocation.objects.bulk_create([
                Allocation(studio=studio, booking=booking, staff_id=s,
                           start_at=span.start, end_at=span.end,
                           is_override=override or booking.is_override)
                for s, span in spans.items()
            ])
            audit.record(studio=studio, actor=actor,
                         action="booking.assign_staff_override" if override
                         else "booking.assign_staff",
                         entity="booking", entity_id=booking.code,
                         diff={"staff_ids": [old, sorted(staff_ids)]})
            events.publish("booking.staff_changed", studio_id=studio.id,
                           booking_id=booking.id, old_staff_ids=old)
            events.publish_availability(studio.id, [("staff", s, span) for s, span in spans.items()]
                                  + [("staff", s, core.Interval(booking.start_at,
                                                                booking.end_at)) for s in old],
                                  booking_id=booking.id)
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    return booking


def _engineer_span(query: core.SlotQuery, engineer: core.ResourceInput,
                   booking: Booking) -> core.Interval:
    before, after = core.effective_buffers(query, engineer)
    return core.allocation_span(booking.start_at, booking.end_at, before, after)
