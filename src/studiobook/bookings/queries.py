"""Read-side helpers for an artist's own bookings: which bookings a user may see, the
Upcoming/Past split of "My bookings", whether a booking may still be changed, and the free
start times a booking can be moved to.

Nothing here writes. Instants are aware UTC datetimes; the split and the checks take ``now``
so pages and tests decide the clock. The rules are the booking services' own: a booking can
be canceled or rescheduled while it blocks its slot (``Booking.BLOCKING_STATUSES``) and has
not started (``scheduling.policies``: no reschedule at or after the start, and a
cancellation then refunds nothing); the start times offered for a move come from the same
core search that ``services.preview_reschedule`` and ``services.reschedule_booking`` check,
with the booking's own allocations excluded, so a time that is offered can be taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from studiobook import scheduling as core
from studiobook.bookings.availability import Exclusions, search_slots
from studiobook.bookings.models import Booking
from studiobook.studios.permissions import is_team

# What a booking page shows: the studio, service, room, artist and engineers, the price
# lines. One query per table whatever the number of bookings.
RELATED = ("studio", "service", "room", "user")
PREFETCH = ("assignments__staff", "line_items")
# What a card of My bookings shows: the studio, service, room and engineers, and the payments
# its payment state is read from (no price lines, no artist: the artist is the reader).
CARD_RELATED = ("studio", "service", "room")
CARD_PREFETCH = ("assignments__staff", "payments")


def bookings_of(user, now: datetime, *, past: bool = False) -> QuerySet[Booking]:
    """One tab of My bookings: the bookings ``user`` made as an artist, at any studio, that
    are upcoming at ``now`` (:func:`is_upcoming`), soonest first, or with ``past`` the others,
    latest first: the order of :func:`split_upcoming_past`, done by the database. With what a
    card shows loaded (:data:`CARD_RELATED`, :data:`CARD_PREFETCH`)."""
    mine = (Booking.objects.filter(user=user).select_related(*CARD_RELATED)
            .prefetch_related(*CARD_PREFETCH))
    if past:
        return mine.filter(end_at__lte=now).order_by("-start_at", "-id")
    return mine.filter(end_at__gt=now).order_by("start_at", "id")


def visible_booking(user, code: str, queryset: QuerySet[Booking] | None = None
                    ) -> Booking | None:
    """The booking ``code`` when ``user`` is its artist or on its studio's team (staff or
    admin), else None: another tenant's codes do not exist for you (the rule of
    ``api.routers.common.get_booking_for`` and of the receipt page). ``queryset`` chooses
    what is loaded with it (default: :data:`RELATED` and :data:`PREFETCH`)."""
    if not getattr(user, "is_authenticated", False):
        return None
    query = queryset if queryset is not None else Booking.objects.select_related(
        *RELATED).prefetch_related(*PREFETCH)
    booking = query.filter(code=code).first()
    if booking is None or not (booking.user_id == user.id or is_team(user, booking.studio)):
        return None
    return booking


def is_upcoming(booking: Booking, now: datetime) -> bool:
    """A booking is upcoming until its session ends (one in progress is still upcoming),
    whatever its status: a canceled session next week shows under Upcoming with its chip.
    The same rule as ``GET /api/me/bookings``; :func:`bookings_of` applies it in SQL
    (``end_at > now``)."""
    return booking.end_at > now


def split_upcoming_past(bookings: Iterable[Booking], now: datetime
                        ) -> tuple[list[Booking], list[Booking]]:
    """``(upcoming, past)`` by :func:`is_upcoming`: upcoming soonest first, past latest
    first. ``bookings`` may come in any order."""
    ordered = sorted(bookings, key=lambda b: (b.start_at, b.id))
    upcoming = [b for b in ordered if is_upcoming(b, now)]
    past = [b for b in reversed(ordered) if not is_upcoming(b, now)]
    return upcoming, past


def can_change(booking: Booking, now: datetime) -> bool:
    """Whether cancel and reschedule are worth offering: the booking still blocks its slot
    (awaiting approval or confirmed) and has not started. The services decide the terms (and
    re-check all of this) when asked."""
    return booking.is_blocking and booking.start_at > now


def move_targets(booking: Booking) -> tuple[int | None, list[int] | None]:
    """``(room_id, staff_ids)`` a move keeps: the booking's room and, when the service needs
    engineers, its engineers (ascending). An artist moving a session keeps the room and the
    engineer they booked; pass these to ``preview_reschedule`` and ``reschedule_booking`` so
    the time confirmed is the time listed by :func:`reschedule_slots`."""
    staff_ids = (sorted(a.staff_id for a in booking.assignments.all())
                 if booking.service.requires_engineer else None)
    return booking.room_id, staff_ids or None


def reschedule_slots(*, booking: Booking, range_start: datetime, range_end: datetime,
                     now: datetime) -> list[core.Slot]:
    """The free slots starting in ``[range_start, range_end)`` (UTC) that ``booking`` can move
    to: same service and duration, same room and engineers (:func:`move_targets`), with the
    booking's own allocations not counted as busy (``Exclusions(booking_ids=...)``, as
    ``services.preview_reschedule`` does), the studio's lead time, horizon, hours, blackouts,
    buffers and other bookings applied. Its current start is left out (moving to the same
    time changes nothing). Sorted by start, one slot per start.

    Raises InvalidInput (the room or an engineer is inactive or unsuitable now) and NotFound
    (one was removed), as ``build_query`` does.
    Does not check the reschedule policy: ``preview_reschedule`` does, for the chosen time.
    """
    room_id, staff_ids = move_targets(booking)
    found = search_slots(
        studio=booking.studio, service=booking.service,
        duration_minutes=booking.duration_minutes, range_start=range_start,
        range_end=range_end, now=now, room_id=room_id, staff_ids=staff_ids,
        exclude=Exclusions(booking_ids=frozenset({booking.id})),
    )
    wanted = set(staff_ids or ())
    slots: dict[datetime, core.Slot] = {}
    for slot in found:
        # The same filter as services._choose, so every listed start passes its check.
        if wanted <= set(slot.staff_ids) and slot.start != booking.start_at:
            slots.setdefault(slot.start, slot)
    return [slots[start] for start in sorted(slots)]
