"""Booking and payment events -> notifications (registered in ``NotifyConfig.ready()``).

Handlers run inside the booking's transaction (``bookings.events.subscribe_in_transaction``),
so the Notification rows commit with the booking; each one reads what it needs, calls
``services.notify_all`` (which writes the rows and enqueues delivery after commit) and returns.
A process that dies between the commit and the enqueue leaves ``queued`` rows that
``services.recover_notifications`` delivers. The keys make a replayed event a no-op.

==========================  ================  ==========================================
event                       template          also
==========================  ================  ==========================================
booking.submitted           submitted
booking.confirmed           approved          .ics REQUEST (approved, or booked confirmed)
booking.rejected            rejected          reason; refund or released authorization
booking.canceled            canceled          reason, refund (``refund_minor``); .ics
                                              CANCEL if an invite was sent
booking.rescheduled         rescheduled       old and new times; .ics REQUEST (confirmed)
payment.action_needed       payment_failed    the link to complete the payment
payment.failed              payment_failed
==========================  ================  ==========================================
"""

from __future__ import annotations

from datetime import datetime

from studiobook.bookings import events
from studiobook.bookings.models import Booking
from studiobook.notify import services
from studiobook.notify.models import Template


def _booking(event: events.Event) -> Booking | None:
    if event.booking_id is None:
        return None
    return (Booking.objects.select_related("studio", "user", "room", "service")
            .filter(pk=event.booking_id).first())


def on_submitted(event: events.Event) -> None:
    if booking := _booking(event):
        services.notify_all(template=Template.SUBMITTED, booking=booking)


def on_confirmed(event: events.Event) -> None:
    if booking := _booking(event):
        services.notify_all(template=Template.APPROVED, booking=booking)


def on_rejected(event: events.Event) -> None:
    """The refund is what ``reject_booking`` published (everything paid). An authorization
    still open now is released (canceled) by billing right after."""
    if booking := _booking(event):
        released = sum(p.amount_minor - p.amount_captured_minor for p in booking.payments.filter(
            status="requires_capture"))
        services.notify_all(template=Template.REJECTED, booking=booking, data={
            "reason": event.data.get("reason", ""),
            "refund_minor": event.data.get("refund_minor", 0),
            "released_minor": released})


def on_canceled(event: events.Event) -> None:
    if booking := _booking(event):
        services.notify_all(template=Template.CANCELED, booking=booking, data={
            "reason": event.data.get("reason", ""),
            "refund_minor": int(event.data.get("refund_minor") or 0)})


def on_rescheduled(event: events.Event) -> None:
    """One message per move: the key holds the old and new start and the change's time."""
    if booking := _booking(event):
        old_start = event.data.get("old_start_at", "")
        extra = (f"{services.compact_instant(booking.start_at)}"
                 f"-{int(booking.updated_at.timestamp() * 1_000_000)}")
        if old_start:
            extra = f"{services.compact_instant(datetime.fromisoformat(old_start))}>{extra}"
        services.notify_all(template=Template.RESCHEDULED, booking=booking, key_extra=extra,
                            data={"old_start_at": old_start,
                                  "old_end_at": event.data.get("old_end_at", "")})


def on_payment_problem(event: events.Event) -> None:
    """payment.action_needed (the bank asks the artist to authenticate) and payment.failed:
    one message per payment and error code."""
    from studiobook.payments.models import Payment

    booking = _booking(event)
    if booking is None:
        return
    payment = Payment.objects.filter(pk=event.data.get("payment_id"), booking=booking).first()
    code = event.data.get("code") or event.name.rpartition(".")[2]
    services.notify_all(
        template=Template.PAYMENT_FAILED, booking=booking,
        key_extra=f"{payment.id if payment else 'payment'}:{code}",
        data={"action_url": event.data.get("action_url", ""), "code": code,
              **({"payment_minor": payment.amount_minor} if payment else {})})


HANDLERS = {
    "booking.submitted": on_submitted,
    "booking.confirmed": on_confirmed,
    "booking.rejected": on_rejected,
    "booking.canceled": on_canceled,
    "booking.rescheduled": on_rescheduled,
    "payment.action_needed": on_payment_problem,
    "payment.failed": on_payment_problem,
}


def register() -> None:
    for name, handler in HANDLERS.items():
        events.subscribe_in_transaction(name, handler)
