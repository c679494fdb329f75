"""The studio dashboard: calendar board, approval queue, bookings table and booking page."""

from __future__ import annotations

import re
from datetime import timedelta

import lxml.html
import pytest
import time_machine

from studiobook.bookings import services
from studiobook.bookings.models import Allocation, Booking, Hold
from studiobook.calendars.models import CalendarSync, ExternalCalendar
from studiobook.notify.models import Notification
from studiobook.payments.models import Payment
from studiobook.studios.models import AuditLog, Membership
from studiobook.web.dashboard.board_forms import NewBookingForm
from tests.support.factories import NOW, utc

BOARD = "/dashboard/northside/"
APPROVALS = "/dashboard/northside/approvals"
BOOKINGS = "/dashboard/northside/bookings"
NEW = "/dashboard/northside/board/new"
# Sunday 14 March 2027: Toronto springs forward at 02:00 (EST -> EDT), a 23-hour day that
# starts at 05:00 UTC. 13:00 EDT is 17:00 UTC, twelve real hours into the day.
DST_DAY = "2027-03-14"
TUESDAY_10AM = utc(2026, 11, 24, 15, 0)  # 10:00 EST


@pytest.fixture
def world(studio, make_room, make_staff, make_service, make_buffer, artist, admin_user):
    room_a, room_b = make_room(name="Studio A"), make_room(name="Studio B")
    engineer = make_staff(display_name="Eve Engineer")
    lockout = make_service(name="Lockout", requires_engineer=True,
                           staff_skill_required="recording")
    vetted = make_service(name="Vetted session", requires_approval=True)
    make_buffer(scope="room", room=room_a, before_minutes=30, after_minutes=30)
    return {"studio": studio, "room_a": room_a, "room_b": room_b, "engineer": engineer,
            "lockout": lockout, "vetted": vetted, "artist": artist, "admin": admin_user,
            "staff_user": engineer.user}


def book(world, *, start=TUESDAY_10AM, minutes=120, service=None, actor=None, **kwargs):
    return services.create_booking(actor=actor or world["artist"], studio=world["studio"],
                                   service=service or world["vetted"], start_at=start,
                                   duration_minutes=minutes, now=NOW, **kwargs)


def counts() -> tuple[int, int, int, int]:
    return (Booking.objects.count(), Hold.objects.count(), Allocation.objects.count(),
            AuditLog.objects.count())


def page(response) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(element.text_content().split())


def lane_items(response) -> dict[str, list[tuple]]:
    """{lane name: [(kind, title, when, left, width), ...]} in document order."""
    lanes = {}
    for lane in page(response).xpath("//div[@class='lane']"):
        name = text(lane.xpath(".//h3[@class='lane-name']")[0])
        items = []
        for item in lane.xpath(".//li[contains(concat(' ', @class, ' '), ' item ')]"):
            style = dict(part.strip().split(": ") for part in item.get("style").split(";")
                         if part.strip())
            items.append((item.get("data-kind"), text(item.xpath(".//*[@class='item-title']")[0]),
                          text(item.xpath(".//*[@class='item-when']")[0]),
                          style["left"], style["width"]))
        lanes[name] = items
    return lanes


def errors_of(response, field_id: str) -> list[str]:
    return [text(e) for e in page(response).xpath(
        f"//*[@id='{field_id}']/ancestor::div[contains(@class,'field')][1]"
        "//p[@class='error']")]


def messages_of(response) -> list[str]:
    return [text(m) for m in page(response).xpath("//div[@class='messages']/div")]


# --- the calendar board ------------------------------------------------------------------------

@pytest.fixture
def dst_world(world, make_blackout):
    """One booking (with the room's 30-minute buffers), one hold and one blackout on the
    23-hour day."""
    booking = book(world, service=world["lockout"], start=utc(2027, 3, 14, 17, 0),
                   room_id=world["room_a"].id)
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["lockout"], start_at=utc(2027, 3, 14, 15, 0),
                               duration_minutes=60, room_id=world["room_b"].id, now=NOW)
    # 01:00 EST to 05:00 EDT: three real hours across the skipped one.
    make_blackout(target_type="room", room=world["room_b"], reason="Floor repair",
                  start_at=utc(2027, 3, 14, 6, 0), end_at=utc(2027, 3, 14, 9, 0))
    return {**world, "booking": booking, "hold": hold}


def test_board_by_room_on_a_dst_day_places_each_item_in_real_time(client, dst_world):
    client.force_login(dst_world["admin"])
    response = client.get(BOARD, {"by": "room", "view": "day", "date": DST_DAY})

    assert response.status_code == 200
    code = dst_world["booking"].code
    # Percentages of a 23-hour day: 12 h / 23 h = 52.1739 %, and so on.
    assert lane_items(response) == {
        "Studio A": [
            ("buffer", f"Buffer before Lockout ({code})", "12:30–13:00", "50.0000%", "2.1739%"),
            ("booking", f"Lockout ({code})", "13:00–15:00", "52.1739%", "8.6957%"),
            ("buffer", f"Buffer after Lockout ({code})", "15:00–15:30", "60.8696%", "2.1739%"),
        ],
        "Studio B": [
            # The clocks change during the blackout: both ends name their offset.
            ("blackout", "Blackout: Floor repair", "01:00 EST–05:00 EDT", "4.3478%",
             "13.0435%"),
            ("hold", "Hold: Lockout", "11:00–12:00", "43.4783%", "4.3478%"),
        ],
    }
    html = page(response)
    ticks = [text(t) for t in html.xpath("//div[@class='scale-track']/span")]
    assert ticks == ["00:00", "01:00", *[f"{h:02d}:00" for h in range(3, 24)]]  # 23 hours
    booking_link = html.xpath(f"//li[@data-booking-code='{code}']/a")[0]
    assert booking_link.get("href") == f"/dashboard/northside/bookings/{code}"
    assert text(booking_link) == f"Lockout ({code}) 13:00–15:00 Confirmed"
    assert text(html.xpath("//h2[@id='board-range']")[0]) == "Sunday 14 March 2027, by room"


def test_board_by_staff_shows_the_engineer_lane_without_room_buffers(client, dst_world):
    client.force_login(dst_world["staff_user"])
    response = client.get(BOARD, {"by": "staff", "view": "day", "date": DST_DAY})

    assert response.status_code == 200
    code = dst_world["booking"].code
    assert lane_items(response) == {"Eve Engineer": [
        ("hold", "Hold: Lockout", "11:00–12:00", "43.4783%", "4.3478%"),
        ("booking", f"Lockout ({code})", "13:00–15:00", "52.1739%", "8.6957%"),
    ]}


def test_board_week_view_spans_monday_to_sunday_with_the_short_day(client, dst_world):
    client.force_login(dst_world["admin"])
    response = client.get(BOARD, {"by": "room", "view": "week", "date": DST_DAY})

    assert response.status_code == 200
    html = page(response)
    # Monday 8 March 00:00 EST (05:00 UTC) to Monday 15 March 00:00 EDT: 167 hours.
    assert [text(t) for t in html.xpath("//div[@class='scale-track']/span")] == [
        "Mon 8 Mar", "Tue 9 Mar", "Wed 10 Mar", "Thu 11 Mar", "Fri 12 Mar", "Sat 13 Mar",
        "Sun 14 Mar"]
    booking = lane_items(response)["Studio A"][1]
    # 6 days * 24 h + 12 h = 156 h of 167 h.
    assert booking == ("booking", f"Lockout ({dst_world['booking'].code})",
                       "Sun 14 Mar 13:00–15:00", "93.4132%", "1.1976%")
    assert lane_items(response)["Studio B"][0][2] == "Sun 14 Mar 01:00 EST–05:00 EDT"
    assert text(html.xpath("//h2[@id='board-range']")[0]) == \
        "Mon 8 Mar – Sun 14 Mar 2027, by room"
    links = {text(a): a.get("href") for a in html.xpath("//nav[@class='board-toolbar']//a")}
    assert links["Previous week"] == f"{BOARD}?by=room&view=week&date=2027-03-07"
    assert links["Next week"] == f"{BOARD}?by=room&view=week&date=2027-03-21"
    assert links["Today"] == f"{BOARD}?by=room&view=week&date=2026-11-23"


def test_board_on_the_25_hour_day_names_the_repeated_hour(client, world):
    # Sunday 1 November 2026: Toronto falls back at 02:00 EDT to 01:00 EST.
    client.force_login(world["admin"])
    response = client.get(BOARD, {"date": "2026-11-01"})
    ticks = [text(t) for t in page(response).xpath("//div[@class='scale-track']/span")]
    assert ticks == ["00:00", "01:00 EDT", "01:00 EST", *[f"{h:02d}:00" for h in range(2, 24)]]


def test_board_flags_conflicts_and_calendar_sync_failures(client, world):
    first = book(world, service=world["lockout"], room_id=world["room_a"].id)
    forced = book(world, service=world["lockout"], room_id=world["room_a"].id,
                  actor=world["admin"], override=True, source=Booking.Source.ADMIN)
    CalendarSync.objects.create(booking=first, staff=world["engineer"], status="failed",
                                attempts=3, error="ConnectionError: calendar server down")
    ExternalCalendar.objects.create(studio=world["studio"], room=world["room_b"],
                                    name="Studio B Google", url="https://example.test/b.ics",
                                    status="failing", last_error="HTTP 500")
    client.force_login(world["admin"])
    response = client.get(BOARD, {"date": "2026-11-24"})

    html = page(response)
    flags = {item.get("data-booking-code"): [text(f) for f in item.xpath(
        ".//*[@class='item-flag']")] for item in html.xpath("//li[@data-kind='booking']")}
    assert flags == {first.code: ["⚠ Conflict", "⚠ Calendar sync failed"],
                     forced.code: ["⚠ Conflict"]}
    alert = [text(li) for li in html.xpath("//div[@id='sync-warnings']//li")]
    assert alert == [
        f"{first.code} (Tue 24 Nov, 10:00) could not be copied to the calendar of Eve Engineer:"
        " ConnectionError: calendar server down",
        "The external calendar “Studio B Google” of Studio B cannot be read (HTTP 500). Its "
        "last good copy still blocks time."]
    lane_b = html.xpath("//div[@class='lane'][.//h3='Studio B']")[0]
    assert text(lane_b.xpath(".//p[@class='lane-warning']")[0]) == "⚠ External calendar failing"


def test_board_empty_state_without_rooms(client, studio, admin_user):
    client.force_login(admin_user)
    response = client.get(BOARD)
    assert response.status_code == 200
    html = page(response)
    assert text(html.xpath("//p[@class='empty-title']")[0]) == "No rooms yet"
    assert html.xpath("//form[@id='new-booking-form']") == []


def test_new_booking_here_preselects_the_lane(client, world):
    client.force_login(world["admin"])
    response = client.get(BOARD, {"by": "room", "date": "2026-11-24",
                                  "new": world["room_b"].id})
    html = page(response)
    selected = html.xpath("//select[@id='id_room']/option[@selected]")
    assert [o.get("value") for o in selected] == [str(world["room_b"].id)]
    assert html.xpath("//input[@id='id_date']")[0].get("value") == "2026-11-24"
    link = html.xpath("//div[@class='lane'][.//h3='Studio B']//a[@class='lane-new']")[0]
    assert link.get("href") == (f"{BOARD}?by=room&view=day&date=2026-11-24"
                                f"&new={world['room_b'].id}#new-booking")


def new_booking(world, **overrides) -> dict:
    return {"board_by": "room", "board_view": "day", "board_date": "2026-11-24",
            "kind": "hold", "service": world["lockout"].id, "room": world["room_a"].id,
            "staff": "", "date": "2026-11-24", "start_time": "10:00",
            "duration_minutes": "120", "artist_email": ""} | overrides


def test_staff_place_a_hold_from_the_board(client, world):
    client.force_login(world["staff_user"])
    response = client.post(NEW, new_booking(world))

    assert response.status_code == 302
    assert response["Location"] == f"{BOARD}?by=room&view=day&date=2026-11-24"
    hold = Hold.objects.get()
    assert (hold.user, hold.room, hold.start_at, hold.end_at, hold.status) == (
        world["staff_user"], world["room_a"], TUESDAY_10AM, TUESDAY_10AM + timedelta(hours=2),
        "active")
    assert messages_of(client.get(response["Location"])) == [
        "Hold placed: Lockout, Tue 24 Nov 10:00–12:00. It expires at 07:10."]


def test_admin_books_from_the_board_for_an_artist(client, world, make_user):
    walk_in = make_user(email="walkin@example.test")
    client.force_login(world["admin"])
    response = client.post(NEW, new_booking(world, kind="admin", start_time="13:00",
                                            artist_email="WalkIn@example.test"))

    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.source, booking.status, booking.user, booking.start_at, booking.room,
            booking.is_override) == (
        "admin", "confirmed", walk_in, utc(2026, 11, 24, 18, 0), world["room_a"], False)
    assert AuditLog.objects.get(action="booking.create", entity_id=booking.code).actor == \
        world["admin"]


def test_an_admin_booking_for_an_unknown_email_is_422_and_writes_nothing(client, world):
    before = counts()
    client.force_login(world["admin"])
    response = client.post(NEW, new_booking(world, kind="admin", start_time="13:00",
                                            artist_email="nobody@example.test"))

    assert response.status_code == 422
    assert counts() == before
    assert errors_of(response, "id_artist_email") == [
        "no account has this email address: ask the artist to sign up first, or leave it "
        "empty"]


def test_a_conflicting_hold_is_409_next_to_the_start_time_and_writes_nothing(client, world):
    book(world, service=world["lockout"], room_id=world["room_a"].id)
    before = counts()
    client.force_login(world["staff_user"])
    response = client.post(NEW, new_booking(world, start_time="11:00", duration_minutes="60"))

    assert response.status_code == 409
    assert counts() == before
    assert len(errors_of(response, "id_start_time")) == 1
    html = page(response)
    # What was typed is still there.
    assert html.xpath("//input[@id='id_start_time']")[0].get("value") == "11:00"
    assert html.xpath("//input[@id='id_duration_minutes']")[0].get("value") == "60"


def test_admin_override_books_over_the_conflict(client, world):
    existing = book(world, service=world["lockout"], room_id=world["room_a"].id)
    client.force_login(world["admin"])
    data = new_booking(world, kind="admin", start_time="11:00", duration_minutes="60")
    assert client.post(NEW, data).status_code == 409
    response = client.post(NEW, data | {"override": "on"})

    assert response.status_code == 302
    forced = Booking.objects.exclude(pk=existing.pk).get()
    assert (forced.is_override, forced.start_at) == (True, utc(2026, 11, 24, 16, 0))
    assert AuditLog.objects.filter(action="booking.override", entity_id=forced.code).count() == 1


def test_bad_new_booking_input_is_422_with_errors_next_to_the_fields(client, world):
    before = counts()
    client.force_login(world["admin"])
    response = client.post(NEW, new_booking(world, duration_minutes="90", start_time=""))

    assert response.status_code == 422
    assert errors_of(response, "id_start_time") == ["This field is required."]
    response = client.post(NEW, new_booking(world, duration_minutes="90"))
    assert response.status_code == 422
    assert len(errors_of(response, "id_duration_minutes")) == 1
    # 02:30 does not exist in Toronto on 14 March 2027.
    response = client.post(NEW, new_booking(world, date=DST_DAY, start_time="02:30"))
    assert response.status_code == 422
    assert errors_of(response, "id_start_time") == [
        "02:30 does not exist on Sun 14 Mar in this time zone (the clocks go forward)"]
    assert counts() == before


def test_a_repeated_local_time_is_read_as_its_first_occurrence(world):
    # Sunday 1 November 2026: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 (EST).
    form = NewBookingForm(new_booking(world, date="2026-11-01", start_time="01:30"),
                          studio=world["studio"])
    assert form.is_valid(), form.errors
    assert form.cleaned_data["start_at"] == utc(2026, 11, 1, 5, 30)


def test_staff_cannot_make_admin_bookings(client, world):
    client.force_login(world["staff_user"])
    html = page(client.get(BOARD))
    assert html.xpath("//input[@name='kind']/@value") == ["hold"]
    assert html.xpath("//input[@id='id_override']") == []
    before = counts()
    response = client.post(NEW, new_booking(world, kind="admin"))
    assert response.status_code == 403
    assert counts() == before


# --- the approval queue ------------------------------------------------------------------------

def test_queue_lists_awaiting_bookings_newest_first_with_authorization_warning(client, world):
    older = book(world)
    newer = book(world, start=TUESDAY_10AM + timedelta(days=1))
    book(world, service=world["lockout"], start=TUESDAY_10AM + timedelta(days=2))  # confirmed
    payment = newer.payments.get()
    Payment.objects.filter(pk=payment.pk).update(status="requires_capture",
                                                 capture_before=NOW + timedelta(hours=2))
    client.force_login(world["admin"])
    response = client.get(APPROVALS)

    html = page(response)
    rows = html.xpath("//table[@class='approval-table']/tbody/tr")
    assert [r.get("data-booking-code") for r in rows] == [newer.code, older.code]
    labels = [text(label) for label in html.xpath("//td[@class='select-cell']/label")]
    assert labels == [f"Select booking {newer.code}", f"Select booking {older.code}"]
    assert [text(w) for w in html.xpath("//p[contains(@class,'auth-warning')]")] == [
        "⚠ Card authorization expires Mon 23 Nov 09:00 — approve before then or the artist "
        "is asked to pay again"]
    assert [text(b) for b in html.xpath("//form[@id='approval-form']//button")] == [
        "Approve selected", "Reject selected"]


def test_queue_says_which_bookings_their_deposit_confirms(client, world, make_user):
    world["studio"].first_booking_rule = "deposit"
    world["studio"].save()
    waiting = book(world, service=world["lockout"])
    vetted = book(world, actor=make_user(email="new@example.test"),
                  start=TUESDAY_10AM + timedelta(days=1))
    client.force_login(world["admin"])
    html = page(client.get(APPROVALS))
    rows = {r.get("data-booking-code"): [text(p) for p in r.xpath(".//p[@class]")]
            for r in html.xpath("//table[@class='approval-table']/tbody/tr")}
    assert rows == {waiting.code: ["First booking here: paying the booking confirms it"],
                    vetted.code: []}


@pytest.mark.parametrize(("capture_in", "warning"), [
    (timedelta(hours=2), "⚠ Card authorization expires Mon 23 Nov 09:00 — approve before then "
                         "or the artist is asked to pay again."),
    (-timedelta(hours=3), "⚠ Card authorization expired Mon 23 Nov 04:00: approving asks the "
                          "artist to pay again."),
])
def test_the_booking_page_says_whether_the_authorization_expires_or_has_expired(
        client, world, capture_in, warning):
    """The same rule as the queue (payments.services.capture_deadline)."""
    booking = book(world)
    Payment.objects.filter(booking=booking).update(status="requires_capture",
                                                   capture_before=NOW + capture_in)
    client.force_login(world["admin"])
    html = page(client.get(f"/dashboard/northside/bookings/{booking.code}"))
    assert [text(a) for a in html.xpath("//div[contains(@class,'alert-warning')]")] == [warning]


def test_selecting_nothing_is_422_and_changes_nothing(client, world):
    bookings = [book(world), book(world, start=TUESDAY_10AM + timedelta(days=1))]
    before = counts()
    client.force_login(world["admin"])
    response = client.post(APPROVALS, {"decision": "approve", "internal_note": "ok"})

    assert response.status_code == 422
    assert [text(p) for p in page(response).xpath("//div[@id='codes-error']/p")] == [
        "Select at least one booking."]
    assert page(response).xpath("//textarea[@id='id_internal_note']")[0].text.strip() == "ok"
    assert counts() == before
    assert {b.status for b in Booking.objects.filter(pk__in=[b.pk for b in bookings])} == {
        "awaiting_approval"}


def test_bulk_approve_approves_each_and_reports_each(client, world):
    first, second = book(world), book(world, start=TUESDAY_10AM + timedelta(days=1))
    client.force_login(world["admin"])
    response = client.post(APPROVALS, {"codes": [first.code, second.code, "SB-NOPE99"],
                                       "decision": "approve",
                                       "internal_note": "Regular client"}, follow=True)

    assert response.status_code == 200
    assert sorted(Booking.objects.values_list("code", "status", "approval_note",
                                              "approved_by")) == sorted([
        (first.code, "confirmed", "Regular client", world["admin"].id),
        (second.code, "confirmed", "Regular client", world["admin"].id)])
    assert messages_of(response) == [
        f"Approved {first.code}.", f"Approved {second.code}.",
        "Could not approve SB-NOPE99: booking SB-NOPE99 not found at this studio."]
    assert text(page(response).xpath("//p[@class='empty-title']")[0]) == \
        "No bookings waiting for approval"


def test_bulk_approve_refuses_a_message_to_the_artist(client, world):
    first = book(world)
    before = counts()
    client.force_login(world["admin"])
    response = client.post(APPROVALS, {"codes": [first.code], "decision": "approve",
                                       "message_to_artist": "See you soon"})
    assert response.status_code == 422
    assert errors_of(response, "id_message_to_artist") == [
        "the approval email carries no message: clear this field to approve, or reject to "
        "send it"]
    assert counts() == before
    # The ticked booking stays ticked.
    assert page(response).xpath(f"//input[@value='{first.code}']/@checked") == ["checked"]


def test_reject_with_a_message_reaches_the_artist(client, world,
                                                  django_capture_on_commit_callbacks):
    first, second = book(world), book(world, start=TUESDAY_10AM + timedelta(days=1))
    client.force_login(world["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(APPROVALS, {
            "codes": [first.code], "decision": "reject",
            "message_to_artist": "The studio is closed for renovation that week.",
            "internal_note": "Renovation"}, follow=True)

    assert messages_of(response) == [f"Rejected {first.code}."]
    first.refresh_from_db()
    assert (first.status, first.status_reason) == (
        "rejected", "The studio is closed for renovation that week.")
    assert Booking.objects.get(pk=second.pk).status == "awaiting_approval"
    rejection = AuditLog.objects.get(action="booking.reject", entity_id=first.code)
    assert rejection.diff["reason"] == "The studio is closed for renovation that week."
    note = AuditLog.objects.get(action="booking.note", entity_id=first.code)
    assert note.diff == {"note": "Renovation", "decision": "reject"}
    email = Notification.objects.get(booking=first, template="rejected", channel="email")
    assert email.payload["reason"] == "The studio is closed for renovation that week."


def test_staff_see_the_queue_but_cannot_decide(client, world):
    first = book(world)
    client.force_login(world["staff_user"])
    html = page(client.get(APPROVALS))
    assert [r.get("data-booking-code") for r in html.xpath("//tbody/tr")] == [first.code]
    assert html.xpath("//main//button") == []
    assert html.xpath("//input[@name='codes']") == []
    before = counts()
    response = client.post(APPROVALS, {"codes": [first.code], "decision": "approve"})
    assert response.status_code == 403
    assert counts() == before
    assert Booking.objects.get().status == "awaiting_approval"


def test_empty_queue(client, world):
    client.force_login(world["admin"])
    html = page(client.get(APPROVALS))
    assert text(html.xpath("//p[@class='empty-title']")[0]) == "No bookings waiting for approval"


# --- the bookings table and one booking --------------------------------------------------------

def test_bookings_table_filters_and_paginates(client, world, make_user):
    other_artist = make_user(email="mo@example.test")
    made = [book(world, start=TUESDAY_10AM + timedelta(days=d)) for d in range(27)]
    special = book(world, actor=other_artist, service=world["lockout"],
                   start=TUESDAY_10AM + timedelta(days=40))
    client.force_login(world["staff_user"])

    html = page(client.get(BOOKINGS))
    codes = [r.get("data-booking-code") for r in html.xpath("//tbody/tr")]
    assert codes == [special.code, *[b.code for b in reversed(made)]][:25]
    assert text(html.xpath("//nav[@class='pagination']/span")[0]) == "Page 1 of 2"

    html = page(client.get(BOOKINGS, {"q": "MO@example", "status": "confirmed"}))
    assert [r.get("data-booking-code") for r in html.xpath("//tbody/tr")] == [special.code]
    html = page(client.get(BOOKINGS, {"date_from": "2026-11-25", "date_to": "2026-11-26"}))
    assert [r.get("data-booking-code") for r in html.xpath("//tbody/tr")] == [
        made[2].code, made[1].code]
    response = client.get(BOOKINGS, {"date_from": "2026-11-26", "date_to": "2026-11-25"})
    assert response.status_code == 422
    assert errors_of(response, "id_date_to") == ["must be on or after the From date"]
    html = page(client.get(BOOKINGS, {"status": "rejected"}))
    assert text(html.xpath("//p[@class='empty-title']")[0]) == "No bookings match these filters"


def test_booking_page_shows_quote_and_history(client, world):
    booking = book(world)
    client.force_login(world["admin"])
    html = page(client.get(f"{BOOKINGS}/{booking.code}"))
    assert text(html.xpath("//h1")[0]) == f"Booking {booking.code}"
    quote = [[text(c) for c in row] for row in html.xpath(
        "//section[@aria-labelledby='quote-title']//tbody/tr")]
    assert quote == [["Vetted session, 2 h", "1", "CAD 120.00"], ["Subtotal", "", "CAD 120.00"],
                     ["Total", "", "CAD 120.00"]]
    assert [text(h) for h in html.xpath("//section[@id='actions']//h3")] == [
        "Approve", "Reject", "Engineers", "Cancel", "Record a payment"]
    assert html.xpath("//section[@id='actions']//form/@action") == [
        f"{BOOKINGS}/{booking.code}/{action}"
        for action in ("approve", "reject", "assign-staff", "cancel", "payment")]
    assert [text(li).split(" · ")[2] for li in html.xpath("//ol[@class='audit-list']/li")] == [
        "booking.create"]


def test_booking_actions_run_their_services(client, world):
    booking = book(world)
    url = f"{BOOKINGS}/{booking.code}"
    client.force_login(world["admin"])

    response = client.post(f"{url}/approve", {"internal_note": "fine"}, follow=True)
    assert messages_of(response) == [f"Approved {booking.code}."]
    response = client.post(f"{url}/payment", {"amount": "200.00", "note": "cash"})
    assert response.status_code == 422
    assert errors_of(response, "id_amount") == ["only CAD 120.00 is still due on this booking"]
    response = client.post(f"{url}/payment", {"amount": "120.00", "note": "cash"},
                           follow=True)
    assert messages_of(response) == ["Recorded a payment of CAD 120.00."]
    response = client.post(f"{url}/refund", {"amount": "20.00", "reason": "late start"},
                           follow=True)
    assert messages_of(response) == ["Refunded CAD 20.00."]
    response = client.post(f"{url}/cancel", {"reason": "Engineer ill",
                                             "expected_refund_minor": "12000"})
    assert response.status_code == 409  # the refund is 100.00 now: preview again
    response = client.post(f"{url}/cancel", {"reason": "Engineer ill",
                                             "expected_refund_minor": "10000"}, follow=True)
    assert messages_of(response) == [f"Canceled {booking.code}; refund CAD 100.00."]
    booking.refresh_from_db()
    assert (booking.status, booking.status_reason) == ("canceled", "Engineer ill")
    assert sum(p.amount_refunded_minor for p in booking.payments.all()) == 12000
    assert client.post(f"{url}/complete").status_code == 409


def test_staff_mark_a_confirmed_booking_as_a_no_show(client, world):
    booking = book(world, service=world["lockout"])
    url = f"{BOOKINGS}/{booking.code}"
    client.force_login(world["staff_user"])
    # Before the session starts the page offers neither, and a POST is refused (issue 9).
    html = page(client.get(url))
    assert html.xpath("//section[@id='actions']//form/@action") == [f"{url}/payment"]
    assert client.post(f"{url}/no-show").status_code == 409
    assert client.post(f"{url}/complete").status_code == 409
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"
    with time_machine.travel(booking.start_at + timedelta(minutes=20), tick=False):
        html = page(client.get(url))
        assert html.xpath("//section[@id='actions']//form/@action") == [
            f"{url}/complete", f"{url}/no-show", f"{url}/payment"]
        response = client.post(f"{url}/no-show", follow=True)
        assert messages_of(response) == [f"Marked {booking.code} as a no-show."]
        assert Booking.objects.get(pk=booking.pk).status == "no_show"
        assert client.post(f"{url}/no_show").status_code == 404


def test_staff_cannot_reach_admin_actions(client, world):
    booking = book(world)
    url = f"{BOOKINGS}/{booking.code}"
    client.force_login(world["staff_user"])
    html = page(client.get(url))
    assert [text(h) for h in html.xpath("//section[@id='actions']//h3")] == [
        "Record a payment"]
    before = counts()
    for action, data in (("approve", {}), ("reject", {"message_to_artist": "no"}),
                         ("cancel", {"expected_refund_minor": "0"})):
        response = client.post(f"{url}/{action}", data)
        assert response.status_code == 403, action
    assert counts() == before
    assert Booking.objects.get().status == "awaiting_approval"
    response = client.post(f"{url}/approve", {})
    assert [text(p) for p in page(response).xpath("//section[@id='actions']/div[@role='alert']/p")
            ] == ["this action needs the studio admin role"]


# --- who may see what ----------------------------------------------------------------------------

def test_anonymous_users_are_sent_to_sign_in(client, world):
    for url in ("/dashboard/", BOARD, APPROVALS, BOOKINGS):
        response = client.get(url)
        assert response.status_code == 302
        assert re.match(r"^/accounts/login/\?next=", response["Location"]), url


def test_dashboard_index_redirects_to_the_first_team_studio(client, world, make_user):
    client.force_login(world["staff_user"])
    response = client.get("/dashboard/")
    assert (response.status_code, response["Location"]) == (302, BOARD)
    client.force_login(make_user())
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert text(page(response).xpath("//p[@class='empty-title']")[0]) == \
        "You are not on any studio's team"


def test_staff_of_another_studio_get_404(client, world, make_studio, make_user):
    booking = book(world)
    other = make_studio(slug="southside", name="Southside")
    outsider = make_user()
    Membership.objects.create(studio=other, user=outsider, role="admin")
    client.force_login(outsider)
    for url in (BOARD, APPROVALS, BOOKINGS, f"{BOOKINGS}/{booking.code}"):
        assert client.get(url).status_code == 404, url
    before = counts()
    assert client.post(f"{BOOKINGS}/{booking.code}/approve", {}).status_code == 404
    assert client.post(APPROVALS, {"codes": [booking.code],
                                   "decision": "approve"}).status_code == 404
    assert client.post(NEW, new_booking(world)).status_code == 404
    # Their own dashboard does not open this studio's booking either.
    assert client.get(f"/dashboard/southside/bookings/{booking.code}").status_code == 404
    assert counts() == before
