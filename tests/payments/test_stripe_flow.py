"""Approval-aware capture with Stripe: the real SDK against recorded responses (only the HTTP
transport is replaced), and webhooks with real HMAC signatures."""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta

import pytest

from studiobook.bookings.models import Booking
from studiobook.payments import services
from studiobook.payments.models import LedgerEntry, Payment, PaymentCustomer, WebhookEvent
from tests.payments.conftest import SECRET
from tests.payments.stripe_transport import load_fixture
from tests.payments.test_webhook_signature import sign

INTENT = "pi_3SVx5WLkdIwHu7ix0hQmA1Zc"
START = "2026-11-28T15:00:00Z"
ADMIN = "/studios/northside/admin"


@pytest.fixture
def world(frozen_clock, studio, make_room, make_staff, make_service, artist, admin_user):
    make_room(name="Studio A")
    service = make_service(name="Lockout", price_unit="session", base_price_minor=15000,
                           min_duration_minutes=120, default_duration_minutes=120,
                           requires_approval=True)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def submit(api, world, transport) -> dict:
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_manual_created.json")
    status, booking = api.post("/bookings", {"studio": "northside",
                                             "service_id": world["service"].id,
                                             "start_at": START, "duration_min": 120},
                               user=world["artist"])
    assert status == 201, booking
    return booking


def deliver(client, event: dict, *, secret: str = SECRET, timestamp: int | None = None,
            tamper: bool = False):
    payload = json.dumps(event).encode()
    header = sign(payload, secret, timestamp)
    if tamper:
        payload = payload.replace(b'"succeeded"', b'"canceled"')
    return client.post("/api/webhooks/stripe", data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=header)


def event(event_id: str, kind: str, fixture: str, **changes) -> dict:
    obj = copy.deepcopy(load_fixture(fixture))
    if isinstance(obj.get("latest_charge"), dict):
        obj["latest_charge"] = obj["latest_charge"]["id"]  # events do not expand it
    obj.update(changes)
    return {"id": event_id, "object": "event", "api_version": "2026-10-28.endive",
            "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind,
            "data": {"object": obj}}


def test_manual_capture_on_approval(api, world, transport, client):
    booking = submit(api, world, transport)
    payment = Payment.objects.get()
    sent = transport.sent[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert {k: sent.form[k] for k in ("amount", "currency", "capture_method", "customer")} == {
        "amount": "15000", "currency": "cad", "capture_method": "manual",
        "customer": "cus_TbQx7Lw3mN2pRa"}
    assert sent.idempotency_key == f"studiobook:payment:{payment.id}:open:first"
    assert booking["payment"]["payments"][0]["client_secret"].startswith(INTENT)
    assert booking["payment"]["state"] == "unpaid"

    # The artist confirms with Stripe.js; Stripe tells us the card is authorized.
    transport.reply("GET", f"/v1/payment_intents/{INTENT}",
                    "payment_intent_requires_capture.json")
    response = deliver(client, event("evt_auth", "payment_intent.amount_capturable_updated",
                                     "payment_intent_requires_capture.json"))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.capture_before.isoformat()) == (
        "requires_capture", "2026-11-27T15:02:10+00:00")
    queue = api.get(f"{ADMIN}/bookings?status=awaiting_approval", user=world["admin"])[1]
    assert queue[0]["payment"]["state"] == "authorized"
    assert queue[0]["payment"]["capture_before"] == "2026-11-27T15:02:10Z"
    assert queue[0]["payment"]["capture_at_risk"] is False
    booking_row = Booking.objects.get()
    deadline = payment.capture_before
    CaptureDeadline = services.CaptureDeadline
    assert services.capture_deadline(booking_row, now=deadline - timedelta(hours=25)) == \
        CaptureDeadline(deadline, is_at_risk=False, has_lapsed=False)
    assert services.capture_deadline(booking_row, now=deadline - timedelta(hours=23)) == \
        CaptureDeadline(deadline, is_at_risk=True, has_lapsed=False)
    assert services.capture_deadline(booking_row, now=deadline) == \
        CaptureDeadline(deadline, is_at_risk=True, has_lapsed=True)

    transport.reply("POST", f"/v1/payment_intents/{INTENT}/capture",
                    "payment_intent_captured.json")
    approved = api.post(f"{ADMIN}/bookings/{booking['code']}/approve", {},
                        user=world["admin"])[1]
    assert transport.sent[-1].idempotency_key == f"studiobook:payment:{payment.id}:capture"
    assert (approved["status"], approved["payment"]["state"]) == ("confirmed", "paid")
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0

    # Capturing twice is refused without calling Stripe.
    calls = len(transport.sent)
    with pytest.raises(services.PaymentStateError):
        services.capture(Payment.objects.get())
    assert len(transport.sent) == calls

    # The studio cancels: a full refund, keyed by our refund row.
    transport.reply("POST", "/v1/refunds", "refund_full.json")
    canceled = api.post(f"/bookings/{booking['code']}/cancel", {"reason": "flood"},
                        user=world["admin"])[1]
    assert canceled["booking"]["payment"]["state"] == "refunded"
    assert transport.sent[-1].form["amount"] == "15000"
    assert transport.sent[-1].idempotency_key.startswith("studiobook:refund:")


def test_reject_cancels_the_authorization(api, world, transport, client):
    booking = submit(api, world, transport)
    transport.reply("GET", f"/v1/payment_intents/{INTENT}",
                    "payment_intent_requires_capture.json")
    deliver(client, event("evt_auth", "payment_intent.amount_capturable_updated",
                          "payment_intent_requires_capture.json"))
    transport.reply("POST", f"/v1/payment_intents/{INTENT}/cancel",
                    "payment_intent_canceled.json")
    rejected = api.post(f"{ADMIN}/bookings/{booking['code']}/reject", {"reason": "closed"},
                        user=world["admin"])[1]
    assert rejected["status"] == "rejected"
    assert transport.sent[-1].path == f"/v1/payment_intents/{INTENT}/cancel"
    assert Payment.objects.get().status == "canceled"
    assert not LedgerEntry.objects.exists()
    with pytest.raises(services.PaymentStateError):
        services.capture(Payment.objects.get())


def test_webhook_signatures_duplicates_and_order(api, world, transport, client):
    submit(api, world, transport)
    succeeded = event("evt_paid", "payment_intent.succeeded", "payment_intent_captured.json")

    for bad in (deliver(client, succeeded, tamper=True),
                deliver(client, succeeded, secret="whsec_wrong"),
                deliver(client, succeeded, timestamp=int(time.time()) - 301)):
        assert bad.status_code == 400
        assert bad.json()["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    assert Payment.objects.get().status == "requires_payment_method"

    assert deliver(client, succeeded).status_code == 200
    assert deliver(client, succeeded).status_code == 200  # a duplicate delivery: a no-op
    assert WebhookEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(account="artist").count() == 1

    # An older event arriving late never moves the payment backwards.
    transport.reply("GET", f"/v1/payment_intents/{INTENT}",
                    "payment_intent_requires_capture.json")
    late = deliver(client, event("evt_old", "payment_intent.amount_capturable_updated",
                                 "payment_intent_requires_capture.json"))
    assert late.status_code == 200
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_captured_minor) == ("succeeded", 15000)

    unknown = deliver(client, event("evt_x", "invoice.paid", "payment_intent_captured.json"))
    assert (unknown.status_code, WebhookEvent.objects.get(event_id="evt_x").status) == (
        200, "ignored")

    refunded = event("evt_refund", "charge.refunded", "payment_intent_captured.json",
                     object="charge", id="ch_1", payment_intent=INTENT,
                     refunds={"object": "list", "data": [
                         {"id": "re_dash", "object": "refund", "amount": 5000,
                          "status": "succeeded"}]})
    assert deliver(client, refunded).status_code == 200
    assert Payment.objects.get().amount_refunded_minor == 5000
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0

    dispute = event("evt_dispute", "charge.dispute.created", "payment_intent_captured.json",
                    object="dispute", id="dp_1", payment_intent=INTENT)
    assert deliver(client, dispute).status_code == 200
    assert Payment.objects.get().is_disputed


def test_off_session_balance_needing_authentication(api, world, transport, client):
    service = world["service"]
    service.requires_approval, service.deposit_percent = False, 20
    service.save()
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_deposit_created.json")
    booking = api.post("/bookings", {"studio": "northside", "service_id": service.id,
                                     "start_at": START, "duration_min": 120},
                       user=world["artist"])[1]
    assert transport.sent[-1].form["setup_future_usage"] == "off_session"
    assert transport.sent[-1].form["capture_method"] == "automatic"
    PaymentCustomer.objects.update(payment_method_id="pm_1SVx4uLkdIwHu7ixQ2rT9vKb")

    transport.reply("POST", "/v1/payment_intents", "error_authentication_required.json",
                    status=402)
    balance = Payment.objects.get(purpose="balance")
    assert services.charge_due_balances(now=balance.due_at) == 1
    sent = transport.sent[-1]
    assert (sent.form["off_session"], sent.form["confirm"], sent.form["amount"]) == (
        "true", "true", str(balance.amount_minor))
    balance.refresh_from_db()
    assert (balance.status, balance.last_error_code) == ("requires_action",
                                                         "authentication_required")
    assert balance.action_url
    detail = api.get(f"/bookings/{booking['code']}", user=world["artist"])[1]
    assert detail["payment"]["state"] == "action_needed"
    assert Booking.objects.get().status == "confirmed"  # a failed charge never undoes it
