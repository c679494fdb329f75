"""What each booking and payment event sends (handlers registered by NotifyConfig.ready)."""

from __future__ import annotations

from django.core import mail

from studiobook.bookings import events
from studiobook.bookings import services as bookings
from studiobook.notify.handlers import HANDLERS
from studiobook.notify.models import Notification, NotificationPreference
from studiobook.payments import services as payments
from studiobook.payments.models import Payment, Refund
from tests.support.factories import NOW


def test_the_handlers_are_subscribed():
    for name, handler in HANDLERS.items():
        assert handler in events._in_transaction_handlers[name], name


def test_rejection_says_why_and_what_is_refunded(world, book, committed):
    booking = book()
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=13560)
    committed(bookings.reject_booking, actor=world["admin"], booking=booking,
              reason="the engineer is ill", now=NOW)

    assert Refund.objects.get().amount_minor == 13560
    submitted, rejected = mail.outbox
    assert rejected.subject == f"Booking {booking.code} declined"
    assert "Reason: the engineer is ill" in rejected.body
    assert "We are refunding CAD 135.60 to your original payment method" in rejected.body
    html = rejected.alternatives[0].content
    assert "the engineer is ill" in html and "CAD 135.60" in html


def test_rejection_of_an_unpaid_booking_says_nothing_was_charged(world, book, committed):
    booking = book()
    committed(bookings.reject_booking, actor=world["admin"], booking=booking, reason="", now=NOW)
    rejected = mail.outbox[-1]
    assert "Nothing was charged." in rejected.body
    assert "Reason" not in rejected.body


def test_cancellation_carries_the_refund_of_the_policy(world, book, committed):
    NotificationPreference.objects.create(user=world["artist"], sms=True)
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=13560)
    committed(bookings.cancel_booking, actor=world["artist"], booking=booking,
              reason="drummer sick", now=NOW)

    canceled = mail.outbox[-1]
    assert canceled.subject == f"Booking {booking.code} canceled"
    assert "Reason: drummer sick" in canceled.body
    assert "A refund of CAD 135.60 is on its way" in canceled.body
    sms = Notification.objects.get(booking=booking, template="canceled", channel="sms")
    assert sms.status == "sent"
    assert sms.payload["refund"] == "CAD 135.60"


def test_payment_action_needed_sends_the_link_once(world, book, committed,
                                                   django_capture_on_commit_callbacks):
    booking = book()
    payment = Payment.objects.filter(booking=booking).first()
    for _ in range(2):  # the same event delivered twice
        with django_capture_on_commit_callbacks(execute=True):
            events.publish("payment.action_needed", studio_id=booking.studio_id,
                           booking_id=booking.id, payment_id=payment.id,
                           action_url=f"/bookings/{booking.code}/pay",
                           code="authentication_required")

    submitted, action = mail.outbox
    assert action.subject == f"Action needed: payment for booking {booking.code}"
    assert "Your bank asks you to confirm the payment (CAD 135.60)" in action.body
    assert f"https://book.example.test/bookings/{booking.code}/pay" in action.body
    assert Notification.objects.filter(booking=booking, template="payment_failed").count() == 2


def test_a_failing_handler_leaves_the_booking_alone(world, book, committed, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("template store unreachable")

    monkeypatch.setattr("studiobook.notify.services.notify", broken)
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert Notification.objects.count() == 0
