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
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from studiobook import scheduling as core
from studiobook.bookings.availability import Exclusions, build_query, validate_duration
from studiobook.bookings.errors import (
    HoldLimitReached,
    HoldNotActive,
    IllegalTransition,
    ResourceBusy,
    SlotUnavailable,
)
from studiobook.bookings.models import (
    Allocation,
    Booking,
    BookingLineItem,
    BookingStaff,
    Hold,
)
from studiobook.studios import audit
from studiobook.studios.errors import Forbidden, InvalidInput
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

LOCK_TIMEOUT = "5s"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone
EXCLUSION_VIOLATION = "23P01"
LOCK_NOT_AVAILABLE = "55P03"


def next_status(status: str, action: str) -> str:
    """The status ``action`` leads to from ``status``; raises IllegalTransition otherwise."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} a booking that is {status}",
            extra={"current_status": status, "action": action},
        ) from None


# --- the reservation core shared by holds and bookings ---------------------------------------

@dataclass(frozen=True)
class Reservation:
    """What a hold or booking will occupy: the session (UTC) and one span per resource."""

    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: tuple[int, ...]
    spans: tuple[tuple[str, int, core.Interval], ...]  # ("room"|"staff", id, widened span)
    price_minor: int


def _lock_resources(room_ids: Iterable[int], staff_ids: Iterable[int], user_id: int | None
                    ) -> None:
    """Serialise writers per room, engineer and artist on PostgreSQL. Keys are taken sorted so
    that two transactions never wait on each other in a cycle. SQLite needs nothing here: its
    IMMEDIATE transactions already admit one writer at a time."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({(1, r) for r in room_ids} | {(2, s) for s in staff_ids}
                  | ({(3, user_id)} if user_id else set()))
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for namespace, key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])


def _expire_stale_holds(now: datetime, *, room_ids=(), staff_ids=(), hold_ids=()) -> int:
    """Mark holds past ``expires_at`` expired and stop their allocations blocking. Called
    inside the writer's transaction before it inserts, because the exclusion constraint cannot
    see time (ARCHITECTURE.md principle 3)."""
    from django.db.models import Q

    touching = Q(room_id__in=list(room_ids)) | Q(staff_id__in=list(staff_ids))
    if hold_ids:
        touching |= Q(hold_id__in=list(hold_ids))
    stale = list(
        Allocation.objects.filter(touching, hold__isnull=False, is_blocking=True,
                                  expires_at__lte=now)
        .values_list("hold_id", flat=True).distinct()
    )
    if not stale:
        return 0
    Hold.objects.filter(id__in=stale, status=Hold.Status.ACTIVE).update(
        status=Hold.Status.EXPIRED)
    Allocation.objects.filter(hold_id__in=stale).update(is_blocking=False)
    return len(stale)


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
    price = core.price_for(query.price, duration_minutes)

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
    return Reservation(start_at, end_at, chosen_room, chosen_staff, tuple(spans), price)


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
    if sqlstate == LOCK_NOT_AVAILABLE:
        return ResourceBusy("the room or engineer is being booked right now; try again")
    return error


def _check_start(start_at: datetime) -> None:
    if start_at.tzinfo is None:
        raise InvalidInput("start_at needs a UTC offset", field="start_at", rule="timezone")


# --- holds -------------------------------------------------------------------------------------

def place_hold(*, actor, studio: Studio, service: Service, start_at: datetime,
               duration_minutes: int, room_id: int | None = None,
               staff_ids: list[int] | None = None, now: datetime | None = None) -> Hold:
    """Hold a slot for ``studio.hold_minutes`` (recording-studio-prd.md section 7.11).

    The hold blocks its room and engineers until ``expires_at`` (UTC). An artist may keep at
    most ``studio.max_active_holds`` live holds at a studio. Raises SlotUnavailable,
    HoldLimitReached, ResourceBusy, InvalidInput, NotFound.
    """
    now = now or timezone.now()
    _check_start(start_at)
    validate_duration(service, duration_minutes)
    try:
        with transaction.atomic(durable=True):
            probe = _choose(studio=studio, service=service, start_at=start_at,
                            duration_minutes=duration_minutes, now=now, room_id=room_id,
                            staff_ids=staff_ids, exclude=Exclusions(), override=False)
            _lock_resources([probe.room_id] if probe.room_id else [], probe.staff_ids,
                            actor.id)
            _expire_stale_holds(now, room_ids=[probe.room_id] if probe.room_id else [],
                                staff_ids=probe.staff_ids)
            live = Hold.objects.filter(studio=studio, user=actor, status=Hold.Status.ACTIVE,
                                       expires_at__gt=now).count()
            if live >= studio.max_active_holds:
                raise HoldLimitReached(
                    f"you already hold {live} slots at {studio.name}; book or release one "
                    f"first (limit {studio.max_active_holds})")
            # Re-check with the resources locked: the probe ran before we held the locks.
            reservation = _choose(studio=studio, service=service, start_at=start_at,
                                  duration_minutes=duration_minutes, now=now,
                                  room_id=probe.room_id, staff_ids=list(probe.staff_ids),
                                  exclude=Exclusions(), override=False)
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
    return hold


def sweep_expired_holds(*, now: datetime | None = None) -> int:
    """Mark every hold past its ``expires_at`` expired (tidying only: expired holds already
    stopped blocking when they expired). Returns how many were marked."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        stale = list(Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now)
                     .values_list("id", flat=True))
        Hold.objects.filter(id__in=stale).update(status=Hold.Status.EXPIRED)
        Allocation.objects.filter(hold_id__in=stale).update(is_blocking=False)
    return len(stale)


# --- bookings ----------------------------------------------------------------------------------

def _new_code() -> str:
    while True:
        code = "SB-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not Booking.objects.filter(code=code).exists():
            return code


def _initial_status(studio: Studio, service: Service, source: str) -> str:
    if source == Booking.Source.ADMIN:
        return Status.CONFIRMED
    if service.requires_approval or studio.requires_approval:
        return Status.AWAITING_APPROVAL
    return Status.CONFIRMED


def _policy_snapshot(studio: Studio, service: Service) -> dict:
    return {
        "requires_approval": service.requires_approval or studio.requires_approval,
        "deposit_percent": service.deposit_percent,
        "lead_time_minutes": studio.lead_time_minutes,
        "time_zone": studio.time_zone,
    }


def create_booking(*, actor, studio: Studio, service: Service | None = None,
                   hold: Hold | None = None, start_at: datetime | None = None,
                   duration_minutes: int | None = None, room_id: int | None = None,
                   staff_ids: list[int] | None = None, notes: str = "", override: bool = False,
                   source: str = Booking.Source.WEB, now: datetime | None = None) -> Booking:
    """Book a session, from a live hold of ``actor`` or directly.

    The booking is ``awaiting_approval`` when the service or studio requires approval, else
    ``confirmed`` (recording-studio-prd.md section 7.7); admin bookings are confirmed.
    ``override=True`` (admins only) books over conflicts: its allocations are left out of the
    exclusion constraint, show as conflicts on the calendar, and the override is audited.
    Raises SlotUnavailable, HoldNotActive, Forbidden, InvalidInput, NotFound, ResourceBusy.
    """
    now = now or timezone.now()
    if override or source == Booking.Source.ADMIN:
        require_admin(actor, studio)
    if hold is not None:
        if hold.studio_id != studio.id:
            raise InvalidInput("hold_id belongs to another studio", field="hold_id",
                               rule="studio")
        if hold.user_id != actor.id:
            raise Forbidden("this hold belongs to someone else")
        service = hold.service
        start_at = hold.start_at
        duration_minutes = int((hold.end_at - hold.start_at).total_seconds() // 60)
        room_id = hold.room_id
        staff_ids = hold.staff_ids
    if service is None or start_at is None or duration_minutes is None:
        raise InvalidInput("give hold_id, or service_id, start_at and duration_min",
                           field="hold_id", rule="required")
    _check_start(start_at)
    validate_duration(service, duration_minutes)
    try:
        with transaction.atomic(durable=True):
            if hold is not None:
                # Row lock: two conversions of one hold queue here; the second sees it spent.
                hold = Hold.objects.select_for_update().get(pk=hold.pk)
                if not hold.is_live(now):
                    raise HoldNotActive(
                        "the hold has expired; search again and hold a new slot"
                        if hold.status in (Hold.Status.ACTIVE, Hold.Status.EXPIRED)
                        else f"the hold was already {hold.status}",
                        field="hold_id")
            exclude = Exclusions(hold_ids=frozenset({hold.id}) if hold else frozenset())
            probe = _choose(studio=studio, service=service, start_at=start_at,
                            duration_minutes=duration_minutes, now=now, room_id=room_id,
                            staff_ids=staff_ids, exclude=exclude, override=override)
            _lock_resources([probe.room_id] if probe.room_id else [], probe.staff_ids,
                            actor.id)
            _expire_stale_holds(now, room_ids=[probe.room_id] if probe.room_id else [],
                                staff_ids=probe.staff_ids)
            reservation = probe if override else _choose(
                studio=studio, service=service, start_at=start_at,
                duration_minutes=duration_minutes, now=now, room_id=probe.room_id,
                staff_ids=list(probe.staff_ids), exclude=exclude, override=False)
            if hold is not None:
                hold.status = Hold.Status.CONVERTED
                hold.save(update_fields=["status"])
                hold.allocations.update(is_blocking=False)
            booking = Booking.objects.create(
                studio=studio, code=_new_code(), user=actor, service=service,
                room_id=reservation.room_id, hold=hold,
                status=_initial_status(studio, service, source), source=source,
                start_at=reservation.start_at, end_at=reservation.end_at, notes=notes,
                currency=studio.currency, subtotal_minor=reservation.price_minor,
                total_minor=reservation.price_minor,
                policy_snapshot=_policy_snapshot(studio, service), is_override=override,
            )
            BookingStaff.objects.bulk_create(
                [BookingStaff(booking=booking, staff_id=s) for s in reservation.staff_ids])
            BookingLineItem.objects.create(
                booking=booking, service=service,
                description=f"{service.name}, {duration_minutes} min",
                quantity=1, unit_price_minor=reservation.price_minor,
                total_minor=reservation.price_minor,
            )
            _insert_allocations(studio=studio, reservation=reservation, booking=booking,
                                override=override)
            audit.record(studio=studio, actor=actor,
                         action="booking.override" if override else "booking.create",
                         entity="booking", entity_id=booking.code,
                         diff={"status": [None, booking.status],
                               "start_at": booking.start_at.isoformat(),
                               "room_id": booking.room_id,
                               "staff_ids": list(reservation.staff_ids),
                               "hold": hold.token if hold else None})
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    return booking


def _transition(*, actor, booking: Booking, action: str, reason: str = "",
                now: datetime | None = None, **fields) -> Booking:
    """Move ``booking`` by ``action`` under a row lock, release its allocations when the new
    status no longer blocks, and audit the change."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        booking = Booking.objects.select_for_update().select_related("studio").get(
            pk=booking.pk)
        old = booking.status
        booking.status = next_status(old, action)
        booking.status_reason = reason or booking.status_reason
        for name, value in fields.items():
            setattr(booking, name, value)
        booking.save(update_fields=["status", "status_reason", "updated_at", *fields])
        if not booking.is_blocking:
            booking.allocations.update(is_blocking=False)
        audit.record(studio=booking.studio, actor=actor, action=f"booking.{action}",
                     entity="booking", entity_id=booking.code,
                     diff={"status": [old, booking.status], "reason": reason})
    return booking


def approve_booking(*, actor, booking: Booking, note: str = "",
                    now: datetime | None = None) -> Booking:
    """awaiting_approval -> confirmed (admins). Raises Forbidden, IllegalTransition."""
    require_admin(actor, booking.studio)
    now = now or timezone.now()
    return _transition(actor=actor, booking=booking, action="approve", now=now,
                       approved_by=actor, approved_at=now, approval_note=note)


def reject_booking(*, actor, booking: Booking, reason: str = "",
                   now: datetime | None = None) -> Booking:
    """awaiting_approval -> rejected (admins); frees the slot. Raises Forbidden,
    IllegalTransition."""
    require_admin(actor, booking.studio)
    return _transition(actor=actor, booking=booking, action="reject", reason=reason, now=now)


def cancel_booking(*, actor, booking: Booking, reason: str = "",
                   now: datetime | None = None) -> Booking:
    """awaiting_approval | confirmed -> canceled, by its artist or a studio admin; frees the
    slot. Raises Forbidden, IllegalTransition."""
    if booking.user_id != actor.id and not is_admin(actor, booking.studio):
        raise Forbidden("only the artist or a studio admin may cancel this booking")
    return _transition(actor=actor, booking=booking, action="cancel", reason=reason, now=now)


def complete_booking(*, actor, booking: Booking, now: datetime | None = None) -> Booking:
    """confirmed -> completed (staff or admins)."""
    require_team(actor, booking.studio)
    return _transition(actor=actor, booking=booking, action="complete", now=now)


def mark_no_show(*, actor, booking: Booking, now: datetime | None = None) -> Booking:
    """confirmed -> no_show (staff or admins); frees the rest of the slot."""
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
    except (IntegrityError, OperationalError) as error:
        raise _translate_database_errors(error) from error
    return booking


def _engineer_span(query: core.SlotQuery, engineer: core.ResourceInput,
                   booking: Booking) -> core.Interval:
    before, after = core.effective_buffers(query, engineer)
    return core.allocation_span(booking.start_at, booking.end_at, before, after)
