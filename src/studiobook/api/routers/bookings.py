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
    payment_summary,
)
from studiobook.api.routers.studios import add_ons_of
from studiobook.api.schemas import (
    BookingIn,
    BookingOut,
    CancelIn,
    CancelOut,
    PaymentOut,
    RescheduleIn,
    RescheduleOut,
)
from studiobook.bookings import services
from studiobook.bookings.models import Booking, Hold
from studiobook.bookings.queries import split_upcoming_past
from studiobook.payments import services as payments
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
        override=payload.override, add_ons=add_ons_of(studio, payload.add_ons),
        source=Booking.Source.ADMIN if payload.override else Booking.Source.WEB,
    )
    return Status(201, booking_out(bookings_queryset().get(pk=booking.pk), viewer=request.user))


@router.get("/bookings/{code}", response=BookingOut)
def booking_detail(request, code: str):
    return booking_out(get_booking_for(request.user, code), viewer=request.user)


def _preview_out(preview) -> dict:
    return {"refund_percent": preview.refund_percent, "refund_cents": preview.refund_minor,
            "paid_cents": preview.paid_minor, "summary": preview.summary,
            "deadline": preview.deadline}


@router.post("/bookings/{code}/cancel", response=CancelOut)
def cancel_booking(request, code: str, payload: CancelIn):
    """Cancel as the artist (policy refund) or a studio admin (full refund). ``preview: true``
    shows the refund and changes nothing; send ``expected_refund_cents`` to apply exactly what
    the preview showed (409 if a deadline passed meanwhile)."""
    booking = get_booking_for(request.user, code)
    if payload.preview:
        preview = services.preview_cancellation(actor=request.user, booking=booking)
        return {"preview": _preview_out(preview), "booking": None}
    booking, preview = services.cancel_booking(
        actor=request.user, booking=booking, reason=payload.reason,
        expected_refund_minor=payload.expected_refund_cents)
    return {"preview": _preview_out(preview),
            "booking": booking_out(bookings_queryset().get(pk=booking.pk), viewer=request.user)}


@router.post("/bookings/{code}/reschedule", response=RescheduleOut)
def reschedule_booking(request, code: str, payload: RescheduleIn):
    """Move the booking to ``start_at`` (same service and duration). ``preview: true`` checks
    the slot and shows the fee; ``expected_fee_cents`` applies only that fee."""
    booking = get_booking_for(request.user, code)
    arguments = {"actor": request.user, "booking": booking, "start_at": payload.start_at,
                 "room_id": payload.room_id, "staff_ids": payload.staff_ids}
    if payload.preview:
        preview = services.preview_reschedule(**arguments)
        moved = None
    else:
        moved, preview = services.reschedule_booking(
            **arguments, expected_fee_minor=payload.expected_fee_cents)
    return {"preview": {"start_at": preview.start_at, "end_at": preview.end_at,
                        "room_id": preview.room_id, "staff_ids": list(preview.staff_ids),
                        "is_free": preview.is_free, "fee_cents": preview.fee_minor,
                        "summary": preview.summary},
            "booking": (booking_out(bookings_queryset().get(pk=moved.pk), viewer=request.user)
                        if moved else None)}


@router.post("/bookings/{code}/pay", response=PaymentOut)
def retry_payment(request, code: str):
    """Open the booking's payment again after the gateway failed (a 409 when there is
    nothing to retry)."""
    booking = get_booking_for(request.user, code)
    payment = payments.retry_checkout(actor=request.user, booking=booking)
    return next(p for p in payment_summary(booking)["payments"] if p["id"] == payment.id)


@router.get("/me/bookings", response=dict[str, list[BookingOut]])
def my_bookings(request):
    """The signed-in artist's bookings, ``upcoming`` (soonest first) and ``past`` (latest
    first)."""
    upcoming, past = split_upcoming_past(bookings_queryset().filter(user=request.user),
                                         timezone.now())
    return {"upcoming": [booking_out(b, viewer=request.user) for b in upcoming],
            "past": [booking_out(b, viewer=request.user) for b in past]}
