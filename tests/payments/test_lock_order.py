"""A payment's writer and a booking's writer never deadlock (PostgreSQL).

A cancellation locks the booking, then its payments (to reserve the refund in the same
transaction). A gateway answer or webhook (``apply_intent``) locks the payment and posts to
the ledger, whose rows reference the booking. If ``apply_intent`` also locked the booking (a
``select_related`` join under ``FOR UPDATE`` does), or the cancellation took a full ``FOR
UPDATE`` that blocks the ledger's key-share lock, the two would wait on each other in opposite
orders and PostgreSQL would abort one of them: a 500 for the artist, or a lost capture.

The test makes the cancellation pause right after it has locked the booking until the
gateway answer has been applied (or 3 s have passed), so the interleaving that deadlocks is
the one that runs. With the booking locked ``FOR UPDATE`` through the join (the old code),
one of the two fails with ``deadlock detected``.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from django.db import connection

from studiobook.bookings import services as bookings
from studiobook.bookings.models import Booking
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment, Refund
from tests.conftest import running_on_postgres
from tests.support.factories import NOW, utc

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not running_on_postgres(),
                       reason="PostgreSQL only: SQLite admits one writer at a time, "
                              "nothing interleaves"),
]

START = utc(2026, 11, 28, 15, 0)  # 123 h after NOW: a full refund


def test_a_cancellation_and_a_gateway_answer_for_the_same_booking_both_succeed(
        frozen_clock, studio, make_room, make_service, artist, admin_user, monkeypatch):
    make_room(name="Studio A")
    service = make_service(name="Lockout", deposit_percent=50)
    booking = bookings.create_booking(actor=artist, studio=studio, service=service,
                                      start_at=START, duration_minutes=240, now=NOW)
    payments.record_offline_payment(actor=admin_user, booking=booking, amount_minor=5000)
    deposit = Payment.objects.filter(booking=booking, amount_captured_minor__gt=0).get()
    assert deposit.amount_captured_minor == 5000
    answer = payments.get_gateway().retrieve_payment_intent(deposit.intent_id)
    answer = dataclasses.replace(answer, status="succeeded",
                                 amount_received=deposit.amount_minor)

    booking_locked, answer_applied = threading.Event(), threading.Event()
    reserve = payments.reserve_refunds

    def reserve_after_the_answer(**kwargs):
        booking_locked.set()
        answer_applied.wait(timeout=3)
        return reserve(**kwargs)

    monkeypatch.setattr(payments, "reserve_refunds", reserve_after_the_answer)
    errors: list[BaseException] = []

    def run(work):
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    def cancel():
        bookings.cancel_booking(actor=artist, booking=booking, reason="flu", now=NOW)

    def apply_answer():
        booking_locked.wait(timeout=10)
        try:
            payments.apply_intent(Payment.objects.get(pk=deposit.pk), answer,
                                  adopt_intent_id=False)
        finally:
            answer_applied.set()

    threads = [threading.Thread(target=run, args=(work,)) for work in (cancel, apply_answer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELED
    deposit.refresh_from_db()
    assert deposit.amount_captured_minor == deposit.amount_minor
    assert LedgerEntry.objects.filter(payment=deposit).exists()
    assert Refund.objects.filter(payment__booking=booking).exists()
