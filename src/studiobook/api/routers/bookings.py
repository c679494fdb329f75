"""Bookings: POST /api/bookings, GET /api/bookings/{code}, POST .../cancel,
GET /api/me/bookings."""

from __future__ import annotations

from django.utils import timezone
from ninja import Router, Status

from studiobook.api.auth import signed_in
from studiobook.api.routers.common import (
    booking_out,
    bookings_queryset,
    get_booking_for,
    get_in_studio,
    get_studio,
)
from studiobook.api.schemas import BookingIn, BookingOut, ReasonIn
from studiobook.bookings import services
from studiobook.bookings.models import Booking, Hold
from studiobook.studios.errors import NotFound
from studiobook.studios.models import Service

router = Router(tags=["bookings"], auth=signed_in)


@router.post("/bookings", response={201: BookingOut})
def create_booking(request, payload: BookingIn):
    """Book from a hold (``hold_id``) or directly. The answer's ``status`` is
    ``awaiting_approval`` or ``confirmed``. A slot taken meanwhile is a 409."""
    hold = None
    if payload.hold_id is not None:
        hold = Hold.objects.select_related("studio", "service").filter(
            token=payload.hold_id, user=request.user).first()
        if hold is None:
            raise NotFound(f"hold {payload.hold_id} not found", field="hold_id")
        studio = hold.studio
    else:
        studio = get_studio(payload.studio)
    service = (get_in_studio(Service, studio, payload.service_id, field="service_id")
               if payload.service_id is not None and hold is None else None)
    booking = services.create_booking(
        actor=request.user, studio=studio, service=service, hold=hold,
        start_at=payload.start_at, duration_minutes=payload.duration_min,
        room_id=payload.room_id, staff_ids=payload.staff_ids, notes=payload.notes,
        override=payload.override,
        source=Booking.Source.ADMIN if payload.override else Booking.Source.WEB,
    )
    return Status(201, booking_out(bookings_queryset().get(pk=booking.pk)))


@router.get("/bookings/{code}", response=BookingOut)
def booking_detail(request, code: str):
    return booking_out(get_booking_for(request.user, code))


@router.post("/bookings/{code}/cancel", response=BookingOut)
def cancel_booking(request, code: str, payload: ReasonIn):
    """Cancel as the artist (or a studio admin); frees the slot at once."""
    booking = get_booking_for(request.user, code)
    services.cancel_booking(actor=request.user, booking=booking, reason=payload.reason)
    return booking_out(bookings_queryset().get(pk=booking.pk))


@router.get("/me/bookings", response=dict[str, list[BookingOut]])
def my_bookings(request):
    """The signed-in artist's bookings, ``upcoming`` (soonest first) and ``past`` (latest
    first)."""
    now = timezone.now()
    mine = list(bookings_queryset().filter(user=request.user))
    return {
        "upcoming": [booking_out(b) for b in mine if b.end_at > now],
        "past": [booking_out(b) for b in reversed(mine) if b.end_at <= now],
    }
