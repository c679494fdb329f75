"""Property: whatever bookings, taxes, deposits, payments, cancellations and refunds happen,
the ledger of each booking sums to zero, refunds never exceed captures, and what the ledger
says the artist paid equals what the payments say."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services as bookings
from studiobook.bookings.models import Allocation, Booking, BookingLineItem, BookingStaff
from studiobook.payments import services as payments
from studiobook.payments.errors import PaymentStateError
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import AuditLog, TaxRate
from tests.support.factories import NOW, utc

START = utc(2026, 11, 30, 15)

scenarios = st.fixed_dictionaries({
    "taxes": st.lists(st.integers(0, 2000), max_size=3),
    "deposit": st.sampled_from([0, 10, 25, 33, 50, 100]),
    "price": st.integers(1, 500_000),
    "platform_fee": st.sampled_from([0, 250, 1000, 1234]),
    "paid_parts": st.lists(st.integers(1, 400_000), max_size=3),
    "refunds": st.lists(st.integers(1, 400_000), max_size=4),
    "cancel_hours_before": st.one_of(st.none(), st.integers(0, 200)),
})


def _reset(studio) -> None:
    for model in (LedgerEntry, Refund, Payment, Allocation, BookingStaff, BookingLineItem,
                  Booking, AuditLog):
        model.objects.all().delete()
    TaxRate.objects.filter(studio=studio).delete()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios)
def test_ledger_balances_and_refunds_never_exceed_captures(studio, make_room, make_service,
                                                           artist, admin_user, scenario):
    if not hasattr(studio, "_service"):
        make_room(name="A")
        studio._service = make_service(name="Session", price_unit="session",
                                       min_duration_minutes=60, duration_step_minutes=60)
    _reset(studio)
    service = studio._service
    service.base_price_minor, service.deposit_percent = scenario["price"], scenario["deposit"]
    service.save()
    studio.platform_fee_basis_points = scenario["platform_fee"]
    studio.save()
    for index, rate in enumerate(scenario["taxes"]):
        TaxRate.objects.create(studio=studio, name=f"T{index}", rate_ppm=rate * 100)

    booking = bookings.create_booking(actor=artist, studio=studio, service=service,
                                      start_at=START, duration_minutes=60, now=NOW)
    for amount in scenario["paid_parts"]:
        with contextlib.suppress(InvalidInput):  # more than is still due
            payments.record_offline_payment(actor=admin_user, booking=booking,
                                            amount_minor=amount)
    if scenario["cancel_hours_before"] is not None:
        bookings.cancel_booking(actor=artist, booking=booking,
                                now=START - timedelta(hours=scenario["cancel_hours_before"]))
    for amount in scenario["refunds"]:
        with contextlib.suppress(InvalidInput, PaymentStateError):
            payments.refund(booking=booking, amount_minor=amount, reason="test")

    booking.refresh_from_db()
    rows = list(Payment.objects.filter(booking=booking))
    captured = sum(p.amount_captured_minor for p in rows)
    refunded = sum(p.amount_refunded_minor for p in rows)
    ledger = LedgerEntry.objects.filter(booking=booking)
    assert (ledger.aggregate(total=Sum("amount_minor"))["total"] or 0) == 0
    assert 0 <= refunded <= captured <= booking.total_minor
    assert all(p.amount_refunded_minor <= p.amount_captured_minor <= p.amount_minor
               for p in rows)
    artist_paid = -(ledger.filter(account="artist").aggregate(total=Sum("amount_minor"))
                    ["total"] or 0)
    assert artist_paid == captured - refunded
    assert sum(r.amount_minor for r in Refund.objects.filter(payment__booking=booking)) == \
        refunded
    # Each movement balances on its own, not just the booking as a whole.
    for movement in set(ledger.values_list("movement", flat=True)):
        assert ledger.filter(movement=movement).aggregate(t=Sum("amount_minor"))["t"] == 0
    assert payments.payment_state(booking) in {
        "unpaid", "deposit_paid", "paid", "partially_refunded", "refunded", "none"}
