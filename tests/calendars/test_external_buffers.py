"""Property: external busy time is kept clear by the session's buffers, in the search and in
the booking check alike. Random outside appointments of an engineer and random buffers; the
offered starts must equal a minute-by-minute reference (the session widened by its buffers
misses every appointment), an offered start must be bookable, and a start that is not
offered must be refused with nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services as booking_services
from studiobook.bookings.availability import search_slots
from studiobook.bookings.errors import SlotUnavailable
from studiobook.bookings.models import Booking
from studiobook.calendars.models import ExternalBusy, ExternalCalendar
from studiobook.studios.models import BufferRule
from tests.bookings.test_offered_means_bookable import _reset
from tests.support.factories import NOW

TORONTO = ZoneInfo("America/Toronto")
UTC = ZoneInfo("UTC")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=TORONTO).astimezone(UTC)   # the world's hours
CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=TORONTO).astimezone(UTC)
LENGTH = 60

appointments = st.lists(st.tuples(st.integers(-24, 156), st.integers(1, 36)), max_size=4)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(busy=appointments, before=st.sampled_from([0, 5, 15, 30]),
       after=st.sampled_from([0, 10, 15, 45]), pick=st.integers(0, 10_000))
def test_offered_starts_keep_the_buffers_clear_of_external_busy_time(world, busy, before,
                                                                     after, pick):
    if world.studio.slot_grid_minutes != 15:
        world.studio.slot_grid_minutes = 15
        world.studio.save()
    calendar, _ = ExternalCalendar.objects.get_or_create(
        studio=world.studio, staff=world.eve,
        defaults={"url": "https://calendar.example/eve.ics", "status": "ok"})
    _reset()
    ExternalBusy.objects.all().delete()
    BufferRule.objects.all().delete()
    BufferRule.objects.create(studio=world.studio, scope="staff", staff=world.eve,
                              before_minutes=before, after_minutes=after)
    spans = [(OPEN + timedelta(minutes=5 * start), OPEN + timedelta(minutes=5 * (start + n)))
             for start, n in busy]
    ExternalBusy.objects.bulk_create([ExternalBusy(external_calendar=calendar, start_at=s,
                                                   end_at=e) for s, e in spans])

    offered = [s.start for s in search_slots(
        studio=world.studio, service=world.recording, duration_minutes=LENGTH,
        range_start=OPEN, range_end=CLOSE, now=NOW, room_id=world.room_a.id,
        staff_ids=[world.eve.id])]

    starts = [OPEN + timedelta(minutes=15 * i) for i in range(int((CLOSE - OPEN) / timedelta(
        minutes=15))) if OPEN + timedelta(minutes=15 * i + LENGTH) <= CLOSE]

    def clear(start: datetime) -> bool:
        low = start - timedelta(minutes=before)
        high = start + timedelta(minutes=LENGTH + after)
        return all(not (low < e and s < high) for s, e in spans)

    assert offered == [s for s in starts if clear(s)]

    refused = [s for s in starts if not clear(s)]
    if refused:
        start = refused[pick % len(refused)]
        try:
            booking_services.create_booking(
                actor=world.artist, studio=world.studio, service=world.recording,
                start_at=start, duration_minutes=LENGTH, room_id=world.room_a.id,
                staff_ids=[world.eve.id], now=NOW)
        except SlotUnavailable:
            pass
        else:
            raise AssertionError(f"a start that is not offered was booked: {start}")
        assert Booking.objects.count() == 0
    if offered:
        start = offered[pick % len(offered)]
        booking = booking_services.create_booking(
            actor=world.artist, studio=world.studio, service=world.recording,
            start_at=start, duration_minutes=LENGTH, room_id=world.room_a.id,
            staff_ids=[world.eve.id], now=NOW)
        assert (booking.start_at, booking.status) == (start, "confirmed")
