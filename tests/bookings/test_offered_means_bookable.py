"""Property: whatever the search offers can be booked, and booking it never double-books.

Random busy calendars (bookings made through the services, some rooms, some engineers,
buffers) are built; then a random offered slot is booked through ``create_booking`` and must
succeed, and afterwards no two blocking allocations of one resource overlap."""

from __future__ import annotations

import contextlib
from datetime import time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services
from studiobook.bookings.availability import search_slots
from studiobook.bookings.errors import SlotUnavailable
from studiobook.bookings.models import Allocation, Booking, BookingLineItem, BookingStaff, Hold
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

DAY_START = utc(2026, 11, 24, 14)  # 09:00 Toronto
DAY_END = utc(2026, 11, 25, 2)     # 21:00 Toronto


def _reset() -> None:
    for model in (LedgerEntry, Refund, Payment, Allocation, BookingStaff, BookingLineItem,
                  Booking, Hold, AuditLog):
        model.objects.all().delete()


def _assert_no_overlaps() -> None:
    rows = list(Allocation.objects.filter(is_blocking=True, is_override=False)
                .values_list("room_id", "staff_id", "start_at", "end_at"))
    for i, (room, staff, start, end) in enumerate(rows):
        for other_room, other_staff, other_start, other_end in rows[i + 1:]:
            same = (room is not None and room == other_room) or (
                staff is not None and staff == other_staff)
            assert not (same and start < other_end and other_start < end), rows


attempts = st.lists(
    st.tuples(st.integers(0, 47), st.sampled_from([60, 120, 180]), st.integers(0, 1),
              st.integers(0, 2)),
    max_size=8,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(existing=attempts, pick=st.integers(0, 10_000), minutes=st.sampled_from([60, 120, 240]))
def test_every_offered_slot_can_be_booked(studio, make_room, make_staff, make_service,
                                          make_buffer, make_rule, make_user, existing, pick,
                                          minutes):
    if not hasattr(studio, "_world"):
        rooms = [make_room(name="A"), make_room(name="B")]
        staff = [make_staff(display_name=n) for n in ("E1", "E2", "E3")]
        make_rule(target_type="staff", staff=staff[2], start_time=time(17), end_time=time(23))
        service = make_service(name="Session", requires_engineer=True,
                               staff_skill_required="recording")
        make_buffer(scope="room", room=rooms[0], after_minutes=15)
        make_buffer(scope="staff", staff=staff[1], before_minutes=30)
        artists = [make_user() for _ in range(9)]
        studio._world = (rooms, staff, service, artists)
    rooms, staff, service, artists = studio._world
    _reset()
    for (slot, length, room, engineer), artist in zip(existing, artists, strict=False):
        # Random requests may clash; the calendar is whatever succeeded.
        with contextlib.suppress(SlotUnavailable):
            services.create_booking(
                actor=artist, studio=studio, service=service,
                start_at=DAY_START + timedelta(minutes=15 * slot), duration_minutes=length,
                room_id=rooms[room].id, staff_ids=[staff[engineer].id], now=NOW)
    _assert_no_overlaps()

    offered = search_slots(studio=studio, service=service, duration_minutes=minutes,
                           range_start=DAY_START, range_end=DAY_END, now=NOW)
    if not offered:
        return
    slot = offered[pick % len(offered)]
    booking = services.create_booking(
        actor=artists[-1], studio=studio, service=service, start_at=slot.start,
        duration_minutes=minutes, room_id=slot.room_id, staff_ids=[slot.staff_ids[-1]], now=NOW)
    assert (booking.start_at, booking.end_at, booking.room_id) == (slot.start, slot.end,
                                                                  slot.room_id)
    _assert_no_overlaps()
    # ... and neither that room nor that engineer is offered at that time any more.
    again = search_slots(studio=studio, service=service, duration_minutes=minutes,
                         range_start=slot.start, range_end=slot.start + timedelta(minutes=1),
                         now=NOW)
    assert all(s.room_id != slot.room_id and slot.staff_ids[-1] not in s.staff_ids
               for s in again)
