"""Faults mid-flow (a Stripe 500 on a refund), the platform fee, and the payout report."""

from __future__ import annotations

import csv
import io

import pytest
import stripe

from studiobook.bookings import services as bookings
from studiobook.payments import services as payments
from studiobook.payments.errors import GatewayFailure
from studiobook.payments.gateways import StripeGateway
from studiobook.payments.gateways.stripe_gateway import payment_intent_result
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios.models import TaxRate
from tests.payments.stripe_transport import RecordingTransport, load_fixture
from tests.support.factories import NOW, utc

START = utc(2026, 11, 28, 15)


@pytest.fixture
def world(frozen_clock, studio, make_room, make_service, artist, admin_user):
    make_room(name="Studio A")
    TaxRate.objects.create(studio=studio, name="HST", rate_ppm=130000)
    studio.platform_fee_basis_points = 1000  # 10 %
    studio.save()
    service = make_service(name="Lockout", price_unit="session", base_price_minor=10000,
                           min_duration_minutes=120, default_duration_minutes=120)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def test_a_stripe_500_on_a_refund_is_recorded_and_retried_without_refunding_twice(
        world, monkeypatch):
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    transport = RecordingTransport()
    payments.use_gateway(StripeGateway("sk_test_x", "whsec_x", http_client=transport,
                                       max_network_retries=0))
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_automatic_created.json")
    booking = bookings.create_booking(actor=world["artist"], studio=world["studio"],
                                      service=world["service"], start_at=START,
                                      duration_minutes=120, now=NOW)
    payment = Payment.objects.get()
    # The artist paid (as Stripe reports it in payment_intent.succeeded).
    payments.apply_intent(payment, payment_intent_result(
        {**load_fixture("payment_intent_captured.json"), "amount": 11300,
         "amount_received": 11300, "id": payment.intent_id}))
    assert Payment.objects.get().amount_captured_minor == 11300

    transport.reply("POST", "/v1/refunds", "error_api.json", status=500)
    with pytest.raises(GatewayFailure):
        payments.refund(booking=booking, amount_minor=5000, reason="late start")
    pending = Refund.objects.get()
    assert (pending.status, Payment.objects.get().amount_refunded_minor) == ("pending", 5000)
    assert not LedgerEntry.objects.filter(kind="refund").exists()
    # The 5 000 stays reserved: a second refund cannot take the booking past what was paid.
    with pytest.raises(Exception, match="at most CAD 63.00 can be refunded"):
        payments.refund(booking=booking, amount_minor=6301, reason="again")

    transport.reply("POST", "/v1/refunds", "refund_partial.json")
    key = transport.sent[-1].idempotency_key
    done = payments.send_refunds([pending])
    assert transport.sent[-1].idempotency_key == key  # the same key: Stripe refunds once
    assert done[0].status == "succeeded"
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0


def test_platform_fee_and_payout_report(world, client):
    booking = bookings.create_booking(actor=world["artist"], studio=world["studio"],
                                      service=world["service"], start_at=START,
                                      duration_minutes=120, now=NOW)
    payments.record_offline_payment(actor=world["admin"], booking=booking, amount_minor=11300)
    payments.refund(booking=booking, amount_minor=1130, reason="goodwill")
    legs = list(LedgerEntry.objects.values_list("kind", "account", "amount_minor"))
    assert legs == [
        ("capture", "artist", -11300), ("capture", "studio", 10000), ("capture", "tax:HST", 1300),
        ("fee", "studio", -1000), ("fee", "platform", 1000),
        ("refund", "artist", 1130), ("refund", "studio", -1000), ("refund", "tax:HST", -130),
        ("fee", "studio", 100), ("fee", "platform", -100),
    ]
    url = ("/api/studios/northside/admin/payouts.csv?start=2026-11-01T00:00:00Z"
           "&end=2026-12-01T00:00:00Z")
    client.force_login(world["admin"])
    response = client.get(url)
    assert (response.status_code, response["Content-Type"]) == (200, "text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0] == {
        "booking": booking.code, "start_at": START.isoformat(), "currency": "CAD",
        "captured": "11300", "refunded": "1130", "taxes": "1170", "platform_fee": "900",
        "studio_net": "8100"}
    assert rows[-1]["booking"] == "TOTAL" and rows[-1]["studio_net"] == "8100"
    client.force_login(world["artist"])
    assert client.get(url).status_code == 403
