"""The dashboard's report services (bookings.reports, payments.reports) against a small world
with exact numbers: revenue, utilization (DST included), top services, cancellations, and
properties of the revenue summary."""

from __future__ import annotations

import contextlib
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services as bookings
from studiobook.bookings.models import Allocation, Booking, BookingLineItem, BookingStaff
from studiobook.bookings.reports import (
    ReportPeriod,
    period_presets,
    report_period,
    top_services,
    utilization,
)
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.payments.reports import (
    cancellations,
    revenue,
    summarise_revenue,
)
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import AuditLog, ScheduleRule, TaxRate
from tests.support.factories import NOW, utc

ZONE = "America/Toronto"
T0 = NOW                                # Mon 23 Nov 2026 07:00 in Toronto: bookings made
T1 = utc(2026, 11, 24, 14)              # Tue 24 Nov 09:00 local: three payments
T2 = utc(2026, 11, 24, 20)              # Tue 24 Nov 15:00 local: B5 canceled
T3 = utc(2026, 11, 25, 12)              # Wed 25 Nov 07:00 local: B7 canceled
T4 = utc(2026, 11, 25, 21)              # Wed 25 Nov 16:00 local: rejected, completed, no-show


def period(first: date, end: date) -> ReportPeriod:
    return report_period(zone=ZONE, first_day=first, end_day=end)


@pytest.fixture
def world(studio, make_room, make_service, make_staff, artist, admin_user):
    """Toronto, open 09:00-21:00 every day, HST 13 %, a 10 % platform fee. Rooms A and B,
    engineer Eve; Tracking (per hour 60.00), Mixing (a session with an engineer, 400.00),
    Demo (a session that needs approval, 50.00)."""
    TaxRate.objects.create(studio=studio, name="HST", rate_ppm=130000)
    studio.platform_fee_basis_points = 1000
    studio.save()
    room_a, room_b = make_room(name="Room A"), make_room(name="Room B")
    eve = make_staff(display_name="Eve Engineer")
    tracking = make_service(name="Tracking", price_unit="hour", base_price_minor=6000)
    mixing = make_service(name="Mixing", price_unit="session", base_price_minor=40000,
                          requires_room=False, room_tags=[], requires_engineer=True,
                          staff_skill_required="recording")
    demo = make_service(name="Demo", price_unit="session", base_price_minor=5000,
                        requires_approval=True)

    def book(service, local_start: tuple, minutes: int, room=None, staff=None) -> Booking:
        # local_start: (month, day, hour) in Toronto (EST, UTC-5, in late November)
        month, day, hour = local_start
        return bookings.create_booking(
            actor=artist, studio=studio, service=service,
            start_at=utc(2026, month, day) + timedelta(hours=hour + 5), duration_minutes=minutes,
            room_id=room.id if room else None, staff_ids=[staff.id] if staff else None,
            now=T0)

    def pay(booking, amount):
        payments.record_offline_payment(actor=admin_user, booking=booking, amount_minor=amount)

    with time_machine.travel(T0, tick=False):
        b1 = book(tracking, (11, 24, 10), 180, room=room_a)     # confirmed, 203.40
        b2 = book(tracking, (11, 25, 14), 120, room=room_b)     # canceled >= 48 h, 135.60
        b3 = book(mixing, (11, 25, 10), 120, staff=eve)         # completed, 452.00
        b4 = book(demo, (11, 24, 12), 60, room=room_b)          # rejected, 56.50
        b5 = book(tracking, (11, 25, 20), 60, room=room_a)      # canceled 24-48 h, 67.80
        b6 = book(tracking, (11, 26, 10), 60, room=room_a)      # after the period, 67.80
        b7 = book(tracking, (11, 25, 9), 60, room=room_b)       # canceled < 24 h, 67.80
        b8 = book(tracking, (11, 24, 20), 60, room=room_a)      # no-show, 67.80
        pay(b2, 13560)
        bookings.cancel_booking(actor=artist, booking=b2, now=T0)   # 55 h before: 100 %
    with time_machine.travel(T1, tick=False):
        for booking in (b1, b5, b6):
            pay(booking, booking.total_minor)
    with time_machine.travel(T2, tick=False):
        bookings.cancel_booking(actor=artist, booking=b5, now=T2)   # 29 h before: 50 %
    with time_machine.travel(T3, tick=False):
        bookings.cancel_booking(actor=artist, booking=b7, now=T3)   # 2 h before
    with time_machine.travel(T4, tick=False):
        bookings.reject_booking(actor=admin_user, booking=b4, now=T4)
        bookings.complete_booking(actor=admin_user, booking=b3, now=T4)
        bookings.mark_no_show(actor=admin_user, booking=b8, now=T4)
    return {"studio": studio, "rooms": (room_a, room_b), "eve": eve,
            "services": (tracking, mixing, demo),
            "bookings": (b1, b2, b3, b4, b5, b6, b7, b8)}


def test_the_world_is_as_described(world):
    statuses = [Booking.objects.get(pk=b.pk).status for b in world["bookings"]]
    assert statuses == ["confirmed", "canceled", "completed", "rejected", "canceled",
                        "confirmed", "canceled", "no_show"]
    assert [b.total_minor for b in world["bookings"]] == [20340, 13560, 45200, 5650, 6780,
                                                          6780, 6780, 6780]


def test_revenue_books_sessions_by_start_and_money_by_when_it_moved(world,
                                                                  django_assert_num_queries):
    nov_24_25 = period(date(2026, 11, 24), date(2026, 11, 26))
    with django_assert_num_queries(2):
        report = revenue(studio=world["studio"], period=nov_24_25)
    assert report.currency == "CAD" and report.bucket == "day"
    assert report.booking_count == 7  # b6 starts on the 26th
    assert report.booked_by_status == {"awaiting_approval": 0, "confirmed": 20340,
                                       "completed": 45200, "canceled": 13560 + 6780 + 6780,
                                       "rejected": 5650, "no_show": 6780}
    assert report.gross_booked_minor == 20340 + 45200 + 6780
    # Money moved in the period: b1, b5, b6 paid at T1; half of b5 refunded at T2. b2 paid
    # and refunded on the 23rd, before the period.
    assert report.captured_minor == 20340 + 6780 + 6780
    assert report.refunded_minor == 3390
    assert report.collected_minor == 30510
    assert report.taxes_minor == 2340 + 780 + 780 - 390
    assert report.platform_fee_minor == 1800 + 600 + 600 - 300
    assert report.net_minor == (18000 - 1800) + (6000 - 600) * 2 - (3000 - 300)
    assert report.taxes_minor + report.platform_fee_minor + report.net_minor == 30510
    assert [(b.first_day, b.booked_minor, b.captured_minor, b.refunded_minor, b.taxes_minor,
             b.platform_fee_minor, b.net_minor) for b in report.series] == [
        (date(2026, 11, 24), 20340 + 6780, 33900, 3390, 3510, 2700, 24300),
        (date(2026, 11, 25), 45200, 0, 0, 0, 0, 0),
    ]


def test_revenue_of_the_day_before_holds_the_refunded_booking(world):
    report = revenue(studio=world["studio"], period=period(date(2026, 11, 23),
                                                           date(2026, 11, 24)))
    assert report.booking_count == 0 and report.gross_booked_minor == 0
    assert (report.captured_minor, report.refunded_minor, report.collected_minor) == (
        13560, 13560, 0)
    assert (report.taxes_minor, report.platform_fee_minor, report.net_minor) == (0, 0, 0)


def test_long_periods_are_charted_per_week_from_monday(world):
    report = revenue(studio=world["studio"], period=period(date(2026, 10, 1),
                                                           date(2027, 1, 1)))
    assert report.bucket == "week"
    bounds = [(b.first_day, b.end_day) for b in report.series]
    assert bounds[0] == (date(2026, 10, 1), date(2026, 10, 5))     # Thu to Sun
    assert bounds[1] == (date(2026, 10, 5), date(2026, 10, 12))
    assert bounds[-1] == (date(2026, 12, 28), date(2027, 1, 1))
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    week = next(b for b in report.series if b.first_day == date(2026, 11, 23))
    assert week.booked_minor == 20340 + 45200 + 6780 + 6780  # b6 (the 26th) is in this week
    assert report.gross_booked_minor == 20340 + 45200 + 6780 + 6780


def test_utilization_per_room_and_engineer(world, django_assert_num_queries):
    nov_24_25 = period(date(2026, 11, 24), date(2026, 11, 26))
    with django_assert_num_queries(6):
        report = utilization(studio=world["studio"], period=nov_24_25)
    # Open 09:00-21:00 on two days: 1440 minutes. Room A: b1's 3 h (b8 was a no-show, b5
    # canceled); Room B: nothing that went ahead; Eve: b3's 2 h.
    assert [(r.kind, r.name, r.booked_minutes, r.open_minutes, r.percent)
            for r in [*report.rooms, *report.engineers]] == [
        ("room", "Room A", 180, 1440, Decimal("12.5")),
        ("room", "Room B", 0, 1440, Decimal("0.0")),
        ("engineer", "Eve Engineer", 120, 1440, Decimal("8.3")),
    ]


def test_utilization_follows_own_hours_and_blackouts(world, make_rule, make_blackout):
    room_a, room_b = world["rooms"]
    # Room B works 12:00-18:00 only (within the studio's 09:00-21:00); Room A is blacked out
    # 2 h on the 24th; a studio blackout 12:00-13:00 on the 25th closes everything.
    make_rule(target_type="room", room=room_b, start_time=time(12), end_time=time(18))
    make_blackout(target_type="room", room=room_a, start_at=utc(2026, 11, 24, 20),
                  end_at=utc(2026, 11, 24, 22))
    make_blackout(start_at=utc(2026, 11, 25, 17), end_at=utc(2026, 11, 25, 18))
    report = utilization(studio=world["studio"], period=period(date(2026, 11, 24),
                                                               date(2026, 11, 26)))
    assert [(r.name, r.booked_minutes, r.open_minutes, r.percent)
            for r in [*report.rooms, *report.engineers]] == [
        ("Room A", 180, 1440 - 120 - 60, Decimal("14.3")),
        ("Room B", 0, 720 - 60, Decimal("0.0")),
        ("Eve Engineer", 120, 1440 - 60, Decimal("8.7")),
    ]


def test_a_room_open_09_to_21_for_two_days_with_3_hours_booked_is_12_5_percent(
        studio, make_room, make_service, artist):
    room = make_room(name="Solo")
    service = make_service(name="Tracking")
    with time_machine.travel(T0, tick=False):
        bookings.create_booking(actor=artist, studio=studio, service=service,
                                start_at=utc(2026, 11, 28, 15), duration_minutes=180,
                                room_id=room.id, now=T0)
    report = utilization(studio=studio, period=period(date(2026, 11, 28), date(2026, 11, 30)))
    assert [(r.booked_minutes, r.open_minutes, r.percent) for r in report.rooms] == [
        (180, 1440, Decimal("12.5"))]


@pytest.mark.parametrize(("first", "start_at", "minutes", "open_minutes", "percent"), [
    # Sun 1 Nov 2026, clocks fall back: a 25-hour day. 00:00 EDT to 03:00 EST is 4 hours.
    (date(2026, 11, 1), utc(2026, 11, 1, 4), 240, 1500, Decimal("16.0")),
    # Sun 8 Mar 2026, clocks spring forward: a 23-hour day. 00:00 EST to 04:00 EDT is 3 hours.
    (date(2026, 3, 8), utc(2026, 3, 8, 5), 180, 1380, Decimal("13.0")),
])
def test_utilization_denominators_are_exact_across_dst(studio, make_room, make_service, artist,
                                                       first, start_at, minutes, open_minutes,
                                                       percent):
    ScheduleRule.objects.filter(studio=studio).update(start_time=time(0), end_time=time(0))
    room = make_room(name="Night room")
    service = make_service(name="Lockout", min_duration_minutes=60, duration_step_minutes=60)
    made = start_at - timedelta(days=10)
    with time_machine.travel(made, tick=False):
        bookings.create_booking(actor=artist, studio=studio, service=service,
                                start_at=start_at, duration_minutes=minutes, room_id=room.id,
                                now=made)
    day = period(first, first + timedelta(days=1))
    assert day.end - day.start == timedelta(minutes=open_minutes)
    report = utilization(studio=studio, period=day)
    assert [(r.booked_minutes, r.open_minutes, r.percent) for r in report.rooms] == [
        (minutes, open_minutes, percent)]
    # Three days around the change: 3 x 24 h plus or minus the hour.
    around = utilization(studio=studio, period=period(first - timedelta(days=1),
                                                      first + timedelta(days=2)))
    assert around.rooms[0].open_minutes == 3 * 1440 + (open_minutes - 1440)


def test_working_hours_across_dst_stay_twelve_hours_a_day(studio, make_room):
    make_room(name="Day room")
    report = utilization(studio=studio, period=period(date(2026, 10, 31), date(2026, 11, 3)))
    assert [(r.open_minutes, r.percent) for r in report.rooms] == [(3 * 720, Decimal("0.0"))]


def test_top_services_by_revenue_then_count(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = top_services(studio=world["studio"], period=period(date(2026, 11, 24),
                                                                  date(2026, 11, 26)))
    # Mixing earns more from one booking than Tracking from two (b1 and the no-show b8);
    # Demo's only booking was rejected.
    assert [(r.name, r.booking_count, r.minutes, r.revenue_minor) for r in rows] == [
        ("Mixing", 1, 120, 45200),
        ("Tracking", 2, 240, 27120),
    ]
    assert sum(r.revenue_minor for r in rows) == revenue(
        studio=world["studio"], period=period(date(2026, 11, 24),
                                              date(2026, 11, 26))).gross_booked_minor


def test_cancellations_counts_rates_refunds_and_lead_time(world, django_assert_num_queries):
    with django_assert_num_queries(3):
        report = cancellations(studio=world["studio"], period=period(date(2026, 11, 24),
                                                                     date(2026, 11, 26)))
    assert (report.booking_count, report.canceled, report.rejected, report.no_show) == (
        7, 3, 1, 1)
    assert (report.cancellation_rate, report.rejection_rate, report.no_show_rate) == (
        Decimal("42.9"), Decimal("14.3"), Decimal("14.3"))
    # b2 refunded in full (on the 23rd, before the period: refunds follow the booking), b5
    # half; b7 had paid nothing.
    assert report.refunds_minor == 13560 + 3390
    assert [(b.key, b.label, b.count) for b in report.lead_buckets] == [
        ("48h_or_more", "48 h or more before", 1),
        ("24h_to_48h", "24 to 48 h before", 1),
        ("under_24h", "Less than 24 h before", 1),
    ]


def test_a_cancellation_exactly_48_hours_before_is_in_the_first_bucket(
        studio, make_room, make_service, artist):
    make_room(name="A")
    service = make_service(name="Tracking")
    start = utc(2026, 11, 28, 15)
    with time_machine.travel(T0, tick=False):
        booking = bookings.create_booking(actor=artist, studio=studio, service=service,
                                          start_at=start, duration_minutes=60, now=T0)
    with time_machine.travel(start - timedelta(hours=48), tick=False):
        bookings.cancel_booking(actor=artist, booking=booking,
                                now=start - timedelta(hours=48))
    report = cancellations(studio=studio, period=period(date(2026, 11, 28),
                                                        date(2026, 11, 29)))
    assert [b.count for b in report.lead_buckets] == [1, 0, 0]
    assert report.cancellation_rate == Decimal("100.0")


def test_another_studio_is_not_counted(world, make_studio, make_user):
    other = make_studio(slug="elsewhere", name="Elsewhere")
    nov = period(date(2026, 11, 1), date(2026, 12, 1))
    assert revenue(studio=other, period=nov).booking_count == 0
    assert revenue(studio=other, period=nov).captured_minor == 0
    assert utilization(studio=other, period=nov).rooms == []
    assert top_services(studio=other, period=nov) == []
    assert cancellations(studio=other, period=nov).canceled == 0


def test_the_period_in_utc_and_its_rules():
    nov = period(date(2026, 11, 1), date(2026, 12, 1))
    assert (nov.start, nov.end, nov.days) == (utc(2026, 11, 1, 4), utc(2026, 12, 1, 5), 30)
    with pytest.raises(InvalidInput) as error:
        period(date(2026, 11, 2), date(2026, 11, 2))
    assert (error.value.field, error.value.rule) == ("to", "to_after_from")
    with pytest.raises(InvalidInput) as error:
        period(date(2026, 1, 1), date(2027, 1, 3))
    assert (error.value.field, error.value.rule) == ("to", "max_range")
    assert period(date(2024, 1, 1), date(2025, 1, 1)).days == 366  # a leap year is allowed


def test_presets():
    assert period_presets(date(2026, 1, 15)) == {
        "this_month": (date(2026, 1, 1), date(2026, 2, 1)),
        "last_month": (date(2025, 12, 1), date(2026, 1, 1)),
        "last_30_days": (date(2025, 12, 17), date(2026, 1, 16)),
    }



# --- properties -------------------------------------------------------------------------------

STATUSES = ["awaiting_approval", "confirmed", "completed", "canceled", "rejected", "no_show"]

periods = st.builds(
    lambda first, days: report_period(zone=ZONE, first_day=first,
                                      end_day=first + timedelta(days=days)),
    st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.integers(1, 366))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), span=periods)
def test_revenue_totals_are_the_sums_of_the_series(data, span):
    seconds = int((span.end - span.start).total_seconds())
    instants = st.integers(0, seconds - 1).map(lambda s: span.start + timedelta(seconds=s))
    booked = data.draw(st.lists(st.tuples(st.sampled_from(STATUSES), instants,
                                          st.integers(0, 10**7)), max_size=30))
    legs = []
    captured = refunded = 0
    for amount, back, tax, fee, when, later in data.draw(st.lists(st.tuples(
            st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**5),
            st.integers(0, 10**5), instants, instants), max_size=20)):
        back = min(back, amount)
        tax, fee = min(tax, amount), min(fee, amount - min(tax, amount))
        legs += [("artist", -amount, when), ("tax:HST", tax, when),
                 ("studio", amount - tax, when), ("studio", -fee, when),
                 ("platform", fee, when)]
        captured += amount
        if back:
            legs += [("artist", back, later), ("studio", -back, later)]
            refunded += back
    report = summarise_revenue(period=span, currency="CAD", bookings=booked, legs=legs)

    assert report.bucket == ("day" if span.days <= 62 else "week")
    assert report.series[0].first_day == span.first_day
    assert report.series[-1].end_day == span.end_day
    assert all(a.end_day == b.first_day for a, b in zip(report.series, report.series[1:],
                                                        strict=False))
    for name in ("booked_minor", "captured_minor", "refunded_minor", "taxes_minor",
                 "platform_fee_minor", "net_minor", "collected_minor"):
        total = getattr(report, "gross_booked_minor" if name == "booked_minor" else name)
        assert total == sum(getattr(b, name) for b in report.series), name
    assert report.gross_booked_minor == sum(
        t for s, _, t in booked if s in ("confirmed", "completed", "no_show"))
    assert report.booking_count == len(booked)
    assert (report.captured_minor, report.refunded_minor) == (captured, refunded)
    assert report.collected_minor == captured - refunded == (
        report.taxes_minor + report.platform_fee_minor + report.net_minor)


def _reset(studio) -> None:
    for model in (LedgerEntry, Refund, Payment, Allocation, BookingStaff, BookingLineItem,
                  Booking, AuditLog):
        model.objects.all().delete()
    TaxRate.objects.filter(studio=studio).delete()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=st.fixed_dictionaries({
    "price": st.integers(1, 300_000),
    "tax": st.sampled_from([0, 500, 1300]),
    "platform_fee": st.sampled_from([0, 250, 1000]),
    "paid": st.lists(st.integers(1, 400_000), min_size=1, max_size=3),
    "refunds": st.lists(st.integers(1, 400_000), max_size=3),
}))
def test_collected_is_captured_minus_refunded_through_the_services(
        studio, make_room, make_service, artist, admin_user, scenario):
    if not hasattr(studio, "_service"):
        make_room(name="A")
        studio._service = make_service(name="Session", price_unit="session")
    _reset(studio)
    service = studio._service
    service.base_price_minor = scenario["price"]
    service.save()
    studio.platform_fee_basis_points = scenario["platform_fee"]
    studio.save()
    if scenario["tax"]:
        TaxRate.objects.create(studio=studio, name="Tax", rate_ppm=scenario["tax"] * 100)
    with time_machine.travel(T1, tick=False):
        booking = bookings.create_booking(actor=artist, studio=studio, service=service,
                                          start_at=utc(2026, 11, 28, 15), duration_minutes=60,
                                          now=T1)
        for amount in scenario["paid"]:
            with contextlib.suppress(InvalidInput):  # more than is still due
                payments.record_offline_payment(actor=admin_user, booking=booking,
                                                amount_minor=amount)
        for amount in scenario["refunds"]:
            with contextlib.suppress(InvalidInput, payments.PaymentStateError):
                payments.refund(booking=booking, amount_minor=amount, reason="test")
    rows = list(Payment.objects.filter(booking=booking))
    captured = sum(p.amount_captured_minor for p in rows)
    refunded = sum(p.amount_refunded_minor for p in rows)
    report = revenue(studio=studio, period=period(date(2026, 11, 1), date(2026, 12, 1)))
    assert (report.captured_minor, report.refunded_minor) == (captured, refunded)
    assert report.collected_minor == captured - refunded
    assert report.taxes_minor + report.platform_fee_minor + report.net_minor == (
        captured - refunded)
    assert report.gross_booked_minor == booking.total_minor
