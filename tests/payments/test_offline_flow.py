"""The whole artist flow through the API with the offline gateway (pay at the studio)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db.models import Sum

from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios.models import AuditLog, TaxRate
from tests.support.factories import NOW

# Saturday 2026-11-28 15:00 UTC = 10:00 Toronto: 123 h after NOW.
START = "2026-11-28T15:00:00Z"
ADMIN = "/studios/northside/admin"


@pytest.fixture
def world(frozen_clock, studio, make_room, make_staff, make_service, artist, admin_user):
    TaxRate.objects.create(studio=studio, name="HST", rate_ppm=130000)
    room = make_room(name="Studio A")
    make_staff(display_name="Eve Engineer")
    service = make_service(name="Lockout", requires_engineer=True, requires_approval=True,
                           staff_skill_required="recording", deposit_percent=50)
    return {"studio": studio, "room": room, "service": service, "artist": artist,
            "admin": admin_user}


def ledger_sum(code: str) -> int:
    return LedgerEntry.objects.filter(booking__code=code).aggregate(
        total=Sum("amount_minor"))["total"] or 0


def test_quote_hold_book_approve_pay_cancel_refund_receipt(api, world, client):
    payload = {"service_id": world["service"].id, "start_at": START, "duration_min": 240}
    quote = api.post("/studios/northside/quote", payload)[1]
    # 4 h at 60.00 = 240.00; HST 31.20; total 271.20; deposit 50 % = 135.60.
    assert (quote["total_cents"], quote["deposit_cents"]) == (27120, 13560)

    hold = api.post("/studios/northside/holds", payload, user=world["artist"])[1]
    status, booking = api.post("/bookings", {"hold_id": hold["hold_id"]}, user=world["artist"])
    assert status == 201
    assert (booking["status"], booking["total_cents"], booking["tax_cents"]) == (
        "awaiting_approval", 27120, 3120)
    code = booking["code"]
    due_now, balance = booking["payment"]["payments"]
    assert (due_now["purpose"], due_now["amount_cents"], due_now["gateway"],
            due_now["capture_method"], due_now["status"]) == (
        "deposit", 13560, "offline", "manual", "requires_payment_method")
    assert (balance["purpose"], balance["amount_cents"], balance["due_at"]) == (
        "balance", 13560, "2026-11-26T15:00:00Z")  # 48 h before, the studio's default
    assert booking["payment"]["state"] == "unpaid"

    status, approved = api.post(f"{ADMIN}/bookings/{code}/approve", {"message": "See you"},
                                user=world["admin"])
    assert approved["status"] == "confirmed"

    # The artist pays the deposit at the studio; staff record it.
    status, paid = api.post(f"{ADMIN}/bookings/{code}/payments", {"amount_cents": 13560},
                            user=world["admin"])
    assert (status, paid["payment"]["state"], paid["payment"]["paid_cents"]) == (
        200, "deposit_paid", 13560)
    assert ledger_sum(code) == 0
    assert list(LedgerEntry.objects.filter(booking__code=code).values_list(
        "account", "amount_minor")) == [("artist", -13560), ("studio", 12000), ("tax:HST", 1560)]
    status, body = api.post(f"{ADMIN}/bookings/{code}/payments", {"amount_cents": 13561},
                            user=world["admin"])
    assert (status, body["errors"][0]["rule"]) == (422, "at_most_due")

    # 72 h before the start: inside the 48-h tier, full refund of what was paid.
    with time_machine.travel(NOW + timedelta(hours=51), tick=False):
        status, preview = api.post(f"/bookings/{code}/cancel", {"preview": True},
                                   user=world["artist"])
        assert (status, preview["booking"]) == (200, None)
        assert (preview["preview"]["refund_percent"], preview["preview"]["refund_cents"]) == (
            100, 13560)
        status, body = api.post(f"/bookings/{code}/cancel", {"expected_refund_cents": 100},
                                user=world["artist"])
        assert (status, body["code"]) == (409, "conflict")
        status, canceled = api.post(f"/bookings/{code}/cancel",
                                    {"reason": "drummer sick", "expected_refund_cents": 13560},
                                    user=world["artist"])
    assert status == 200
    assert canceled["booking"]["status"] == "canceled"
    assert canceled["booking"]["payment"]["state"] == "refunded"
    assert Refund.objects.get().amount_minor == 13560
    assert Payment.objects.get(purpose="balance").status == "canceled"
    assert ledger_sum(code) == 0
    assert AuditLog.objects.filter(action="booking.cancel",
                                   diff__refund_minor=13560).exists()

    # The receipt, as a page and as a PDF, for the artist only.
    client.force_login(world["artist"])
    page = client.get(f"/receipt/{code}")
    assert page.status_code == 200
    assert b"CAD 271.20" in page.content and b"CAD 135.60" in page.content
    pdf = client.get(f"/receipt/{code}.pdf")
    assert (pdf.status_code, pdf["Content-Type"], pdf.content[:5]) == (200, "application/pdf",
                                                                       b"%PDF-")
    client.logout()
    assert client.get(f"/receipt/{code}").status_code == 404


def test_policy_tiers_through_the_api(api, world):
    payload = {"studio": "northside", "service_id": world["service"].id, "start_at": START,
               "duration_min": 120}
    code = api.post("/bookings", payload, user=world["artist"])[1]["code"]
    api.post(f"{ADMIN}/bookings/{code}/approve", {}, user=world["admin"])
    api.post(f"{ADMIN}/bookings/{code}/payments", {"amount_cents": 13560},
             user=world["admin"])  # the whole 2-h booking: 120.00 + HST
    start = NOW + timedelta(hours=123)
    for hours_before, percent in ((48, 100), (47, 50), (24, 50), (23, 0)):
        with time_machine.travel(start - timedelta(hours=hours_before), tick=False):
            preview = api.post(f"/bookings/{code}/cancel", {"preview": True},
                               user=world["artist"])[1]["preview"]
        assert (hours_before, preview["refund_percent"]) == (hours_before, percent)
    # The studio canceling always refunds everything.
    with time_machine.travel(start - timedelta(hours=1), tick=False):
        preview = api.post(f"/bookings/{code}/cancel", {"preview": True},
                           user=world["admin"])[1]["preview"]
    assert (preview["refund_percent"], preview["refund_cents"]) == (100, 13560)


def test_admin_refunds_are_bounded_and_audited(api, world):
    payload = {"studio": "northside", "service_id": world["service"].id, "start_at": START,
               "duration_min": 120}
    code = api.post("/bookings", payload, user=world["artist"])[1]["code"]
    status, body = api.post(f"{ADMIN}/bookings/{code}/refund",
                            {"amount_cents": 100, "reason": "goodwill"}, user=world["admin"])
    assert (status, body["code"]) == (409, "payment_state")  # nothing paid yet
    api.post(f"{ADMIN}/bookings/{code}/payments", {"amount_cents": 5000}, user=world["admin"])
    status, body = api.post(f"{ADMIN}/bookings/{code}/refund",
                            {"amount_cents": 5001, "reason": "goodwill"}, user=world["admin"])
    assert (status, body["errors"][0]["rule"]) == (422, "at_most_captured")
    status, body = api.post(f"{ADMIN}/bookings/{code}/refund",
                            {"amount_cents": 2000, "reason": "late start"}, user=world["admin"])
    assert (status, body["payment"]["state"], body["payment"]["paid_cents"]) == (
        200, "partially_refunded", 3000)
    assert api.post(f"{ADMIN}/bookings/{code}/refund", {"amount_cents": 10, "reason": "x"},
                    user=world["artist"])[0] == 403
    assert ledger_sum(code) == 0
    assert AuditLog.objects.filter(action="payment.refund", diff__amount_minor=2000).exists()


def test_reschedule_preview_and_apply(api, world):
    payload = {"studio": "northside", "service_id": world["service"].id, "start_at": START,
               "duration_min": 120}
    code = api.post("/bookings", payload, user=world["artist"])[1]["code"]
    new_start = "2026-11-29T15:00:00Z"
    status, body = api.post(f"/bookings/{code}/reschedule",
                            {"start_at": new_start, "preview": True}, user=world["artist"])
    assert status == 200 and body["booking"] is None
    assert (body["preview"]["is_free"], body["preview"]["fee_cents"]) == (True, 0)
    status, body = api.post(f"/bookings/{code}/reschedule",
                            {"start_at": new_start, "expected_fee_cents": 0},
                            user=world["artist"])
    assert (status, body["booking"]["start_at"]) == (200, new_start)
    assert Payment.objects.get(purpose="balance").due_at.isoformat() == \
        "2026-11-27T15:00:00+00:00"
    # The old time is free again; the new one is taken.
    slots = api.post("/studios/northside/availability/search",
                     {"date": "2026-11-28", "duration_min": 120,
                      "service_id": world["service"].id})[1]["slots"]
    assert START in [s["start_at"] for s in slots]
    status, body = api.post(f"/bookings/{code}/reschedule",
                            {"start_at": "2026-11-29T15:07:00Z", "preview": True},
                            user=world["artist"])
    assert (status, body["code"]) == (409, "slot_unavailable")
