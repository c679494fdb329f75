"""Lookups shared by the routers: tenant-scoped, 404 for anything outside the tenant."""

from __future__ import annotations

from django.db.models import Model

from studiobook.bookings.models import Booking
from studiobook.bookings.queries import visible_booking
from studiobook.payments.services import capture_deadline, paid_minor, payment_state
from studiobook.studios.errors import NotFound
from studiobook.studios.models import Studio
from studiobook.studios.permissions import can_view_contact


def get_studio(slug: str) -> Studio:
    studio = Studio.objects.filter(slug=slug).first()
    if studio is None:
        raise NotFound(f"studio '{slug}' not found")
    return studio


def get_in_studio(model: type[Model], studio: Studio, pk: int, field: str = "id"):
    row = model.objects.filter(studio=studio, pk=pk).first()
    if row is None:
        raise NotFound(f"{model._meta.verbose_name} {pk} not found at this studio", field=field)
    return row


BOOKING_RELATED = ("studio", "service", "user")
BOOKING_PREFETCH = ("assignments__staff", "line_items", "payments")



def bookings_queryset():
    return Booking.objects.select_related(*BOOKING_RELATED).prefetch_related(*BOOKING_PREFETCH)


def get_booking_for(user, code: str, studio: Studio | None = None) -> Booking:
    """The booking ``code`` if ``user`` is its artist or on its studio's team; 404 otherwise
    (never 403: another tenant's codes do not exist for you)."""
    query = bookings_queryset()
    if studio is not None:
        query = query.filter(studio=studio)
    booking = visible_booking(user, code, query)
    if booking is None:
        raise NotFound(f"booking {code} not found", field="code")
    return booking


def artist_out(booking: Booking, viewer) -> dict:
    """The booking's artist as ``viewer`` may see them: the name always, the email address
    and phone number only when ``can_view_contact`` (else null)."""
    user = booking.user
    if can_view_contact(viewer, booking):
        return {"name": user.name, "email": user.email, "phone": user.phone or None}
    return {"name": user.name, "email": None, "phone": None}


def booking_out(booking: Booking, *, viewer) -> dict:
    """The API's view of ``booking`` for ``viewer`` (the signed-in user: it decides whether
    the artist's contact details are included)."""
    return {
        "code": booking.code,
        "artist": artist_out(booking, viewer),
        "studio": booking.studio.slug,
        "status": booking.status,
        "source": booking.source,
        "service_id": booking.service_id,
        "service_name": booking.service.name,
        "start_at": booking.start_at,
        "end_at": booking.end_at,
        "time_zone": booking.studio.time_zone,
        "room_id": booking.room_id,
        "staff": [{"id": a.staff_id, "display_name": a.staff.display_name, "role": a.role}
                  for a in booking.assignments.all()],
        "line_items": [{"description": li.description, "quantity": li.quantity,
                        "unit_price_cents": li.unit_price_minor,
                        "total_cents": li.total_minor} for li in booking.line_items.all()],
        "currency": booking.currency,
        "subtotal_cents": booking.subtotal_minor,
        "tax_cents": booking.tax_minor,
        "total_cents": booking.total_minor,
        "deposit_cents": booking.deposit_minor,
        "policy_summary": (booking.policy_snapshot or {}).get("summary", ""),
        "payment": payment_summary(booking),
        "notes": booking.notes,
        "is_override": booking.is_override,
        "status_reason": booking.status_reason,
        "confirm_on_payment": booking.confirm_on_payment,
        "created_at": booking.created_at,
    }


def payment_summary(booking: Booking) -> dict:
    payments = list(booking.payments.all())
    deadline = capture_deadline(booking, payments)
    return {
        "state": payment_state(booking, payments),
        "paid_cents": paid_minor(booking, payments),
        "capture_before": deadline.deadline,
        "capture_at_risk": deadline.is_at_risk,
        "payments": [{
            "id": p.id, "purpose": p.purpose, "gateway": p.gateway, "status": p.status,
            "capture_method": p.capture_method, "amount_cents": p.amount_minor,
            "captured_cents": p.amount_captured_minor, "refunded_cents": p.amount_refunded_minor,
            "due_at": p.due_at, "capture_before": p.capture_before,
            "client_secret": p.client_secret if p.status in (
                "requires_payment_method", "requires_confirmation", "requires_action") else "",
            "action_url": p.action_url, "last_error_code": p.last_error_code,
            "is_disputed": p.is_disputed,
        } for p in payments],
    }
