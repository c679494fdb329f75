"""Issue 9, section 4, on Stripe: under ``first_booking_rule = "deposit"`` a first-time
artist's booking is confirmed (and its authorization captured) as soon as the PaymentIntent of
its due-now payment reaches ``requires_capture`` or ``succeeded``; once only, and never for a
booking that waits for an admin for another reason. The real SDK on recorded responses."""

from __future__ import annotations

import pytest

from studiobook.bookings import services as bookings
from studiobook.bookings.models import Booking
from studiobook.notify.models import Notification
from studiobook.payments.models import LedgerEntry, Payment, WebhookEvent
from studiobook.studios.models import AuditLog
from tests.payments.test_stripe_flow import INTENT, deliver, event, submit

CAPTURE = f"/v1/payment_intents/{INTENT}/capture"


@pytest.fixture
def world(frozen_clock, studio, make_room, make_service, artist, admin_user):
    studio.first_booking_rule = "deposit"
    studio.save()
    make_room(name="Studio A")
    service = make_service(name="Lockout", price_unit="session", base_price_minor=15000,
                           min_duration_minutes=120, default_duration_minutes=120)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def authorized(client, transport, event_id: str = "evt_auth"):
    transport.reply("GET", f"/v1/payment_intents/{INTENT}",
                    "payment_intent_requires_capture.json")
    return deliver(client, event(event_id, "payment_intent.amount_capturable_updated",
                                 "payment_intent_requires_capture.json"))


def state() -> tuple:
    booking = Booking.objects.get()
    payment = Payment.objects.get()
    return (booking.status, payment.status, payment.amount_captured_minor,
            AuditLog.objects.filter(action="booking.approve").count(),
            Notification.objects.filter(template="approved", channel="email").count(),
            LedgerEntry.objects.count())


def test_the_authorization_confirms_the_booking_and_is_captured(api, world, transport,
                                                                client):
    body = submit(api, world, transport)
    assert (body["status"], body["confirm_on_payment"]) == ("awaiting_approval", True)
    payment = Payment.objects.get()
    assert (payment.purpose, payment.capture_method) == ("full", "manual")
    assert transport.sent[-1].form["capture_method"] == "manual"

    transport.reply("POST", CAPTURE, "payment_intent_captured.json")
    assert authorized(client, transport).status_code == 200
    assert (transport.sent[-1].path, transport.sent[-1].idempotency_key) == (
        CAPTURE, f"studiobook:payment:{payment.id}:capture")
    assert state() == ("confirmed", "succeeded", 15000, 1, 1, 2)
    booking = Booking.objects.get()
    assert (booking.approved_by_id, booking.approval_note) == (
        None, "confirmed by the payment of the deposit")
    assert AuditLog.objects.get(action="booking.approve").actor_id is None
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0
    shown = api.get(f"/bookings/{booking.code}", user=world["artist"])[1]
    assert (shown["status"], shown["payment"]["state"]) == ("confirmed", "paid")

    # The same event again, a second event id for it, then the succeeded event: no effect.
    calls, before = len(transport.sent), state()
    assert authorized(client, transport).status_code == 200  # duplicate id: not even read
    transport.replies.clear()
    assert authorized(client, transport, "evt_auth_again").status_code == 200
    assert deliver(client, event("evt_paid", "payment_intent.succeeded",
                                 "payment_intent_captured.json")).status_code == 200
    assert state() == before
    assert [s.path for s in transport.sent[calls:]] == [f"/v1/payment_intents/{INTENT}"]
    assert WebhookEvent.objects.filter(status="processed").count() == 3


def test_a_succeeded_intent_confirms_without_a_second_capture(api, world, transport, client):
    submit(api, world, transport)
    calls = len(transport.sent)
    assert deliver(client, event("evt_paid", "payment_intent.succeeded",
                                 "payment_intent_captured.json")).status_code == 200
    assert state() == ("confirmed", "succeeded", 15000, 1, 1, 2)
    assert len(transport.sent) == calls  # nothing left to capture


def test_a_booking_that_needs_approval_is_not_confirmed_by_the_authorization(
        api, world, transport, client):
    world["service"].requires_approval = True
    world["service"].save()
    body = submit(api, world, transport)
    assert (body["status"], body["confirm_on_payment"]) == ("awaiting_approval", False)
    calls = len(transport.sent)
    assert authorized(client, transport).status_code == 200
    assert state() == ("awaiting_approval", "requires_capture", 0, 0, 0, 0)
    assert [s.path for s in transport.sent[calls:]] == [f"/v1/payment_intents/{INTENT}"]

    # The admin still decides, and approving captures as before.
    transport.reply("POST", CAPTURE, "payment_intent_captured.json")
    bookings.approve_booking(actor=world["admin"], booking=Booking.objects.get())
    assert state() == ("confirmed", "succeeded", 15000, 1, 1, 2)


def test_a_canceled_request_is_not_confirmed_by_a_late_authorization(api, world, transport,
                                                                     client):
    body = submit(api, world, transport)
    transport.reply("POST", f"/v1/payment_intents/{INTENT}/cancel",
                    "payment_intent_canceled.json")
    api.post(f"/bookings/{body['code']}/cancel", {"reason": "changed plans"},
             user=world["artist"])
    calls = len(transport.sent)
    transport.replies.clear()
    assert authorized(client, transport).status_code == 200
    booking, payment = Booking.objects.get(), Payment.objects.get()
    assert (booking.status, payment.status) == ("canceled", "canceled")
    assert AuditLog.objects.filter(action="booking.approve").count() == 0
    assert [s.path for s in transport.sent[calls:]] == [f"/v1/payment_intents/{INTENT}"]


def test_no_saved_card_when_an_authorization_would_not_outlast_the_window(api, world,
                                                                          transport):
    world["studio"].approval_window_hours = 200  # an approval booking would only save the card
    world["studio"].save()
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_automatic_created.json")
    status, body = api.post("/bookings", {"studio": "northside",
                                          "service_id": world["service"].id,
                                          "start_at": "2026-11-28T15:00:00Z",
                                          "duration_min": 120}, user=world["artist"])
    assert (status, body["status"], body["confirm_on_payment"]) == (
        201, "awaiting_approval", True)
    assert Payment.objects.get().capture_method == "automatic"
    assert transport.sent[-1].form["capture_method"] == "automatic"
