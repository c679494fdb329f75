"""The artist's own pages: My bookings, a booking, its .ics, cancel, reschedule, settings.

Bookings are made through ``bookings.services.create_booking``; money is recorded through
``payments.services.record_offline_payment`` (the offline gateway: pay at the studio).
The clock is frozen at NOW = Monday 2026-11-23 12:00 UTC (07:00 in Toronto, UTC-5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from lxml import html as lxml_html

from studiobook.bookings import services
from studiobook.bookings.models import Allocation, Booking
from studiobook.calendars import ics
from studiobook.calendars.models import CalendarState, FeedToken
from studiobook.notify.models import NotificationPreference
from studiobook.payments.models import Payment, Refund
from studiobook.payments.services import record_offline_payment
from studiobook.scheduling import policies as core_policies
from studiobook.studios.models import AuditLog, Membership
from tests.support.factories import NOW, utc

TZ = "America/Toronto"
# Local Toronto times in November are UTC-5.
TUE_10 = utc(2026, 11, 24, 15, 0)   # Tue 24 Nov 10:00 local
WED_10 = utc(2026, 11, 25, 15, 0)
THU_10 = utc(2026, 11, 26, 15, 0)   # 75 h after NOW
FRI_10 = utc(2026, 11, 20, 15, 0)   # before NOW
SAT_14 = utc(2026, 11, 21, 19, 0)   # before NOW


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user):
    room = make_room(name="Studio A")
    engineer = make_staff(display_name="Eve Engineer")
    recording = make_service(name="Recording", requires_engineer=True,
                             staff_skill_required="recording")
    lockout = make_service(name="Lockout", requires_engineer=True,
                           staff_skill_required="recording", requires_approval=True)
    return {"studio": studio, "room": room, "engineer": engineer, "recording": recording,
            "lockout": lockout, "artist": artist, "admin": admin_user}


def book(world, start: datetime, *, service: str = "recording", minutes: int = 120,
         actor=None, at: datetime = NOW, **kwargs) -> Booking:
    """A booking made at ``at`` (the clock is moved there while booking)."""
    with time_machine.travel(at, tick=False):
        return services.create_booking(
            actor=actor or world["artist"], studio=world["studio"],
            service=world[service], start_at=start, duration_minutes=minutes, now=at, **kwargs)


def pay(world, booking: Booking, amount_minor: int) -> None:
    record_offline_payment(actor=world["admin"], booking=booking, amount_minor=amount_minor)


def parse(response):
    return lxml_html.fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(element.text_content().split())


def texts(elements) -> list[str]:
    return [text(e) for e in elements]


def written() -> tuple:
    return (Booking.objects.count(), Allocation.objects.count(), AuditLog.objects.count(),
            Refund.objects.count(), Payment.objects.count())


def state_of(booking: Booking) -> tuple:
    booking.refresh_from_db()
    return (booking.status, booking.start_at, booking.end_at, booking.room_id,
            booking.reschedule_count,
            sorted(booking.allocations.values_list("start_at", "end_at", "is_blocking")))


# --- access ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["web:booking", "web:booking-ics", "web:booking-cancel",
                                  "web:booking-reschedule"])
def test_anonymous_users_are_sent_to_sign_in(client, world, name):
    booking = book(world, TUE_10)
    url = reverse(name, args=[booking.code])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("name", ["web:my-bookings", "web:me-settings"])
def test_anonymous_users_are_sent_to_sign_in_from_lists(client, db, name):
    url = reverse(name)
    response = client.get(url)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={url}")


@pytest.mark.parametrize("name", ["web:booking", "web:booking-ics", "web:booking-cancel",
                                  "web:booking-reschedule"])
def test_another_users_booking_is_404(client, world, make_user, name):
    booking = book(world, TUE_10)
    client.force_login(make_user())
    before = written()
    assert client.get(reverse(name, args=[booking.code])).status_code == 404
    assert client.post(reverse("web:booking-cancel", args=[booking.code]),
                       {"expected_refund": "0"}).status_code == 404
    assert written() == before
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_another_studios_team_gets_404_and_the_studios_staff_may_look(client, world,
                                                                       make_user, make_studio):
    booking = book(world, TUE_10)
    other = make_studio(slug="elsewhere", name="Elsewhere")
    outsider = make_user()
    Membership.objects.create(studio=other, user=outsider, role="admin")
    client.force_login(outsider)
    assert client.get(reverse("web:booking", args=[booking.code])).status_code == 404

    client.force_login(world["engineer"].user)  # staff of Northside
    response = client.get(reverse("web:booking", args=[booking.code]))
    assert response.status_code == 200
    # Staff may look but not cancel or reschedule (only the artist or an admin may).
    links = texts(parse(response).xpath("//main//a"))
    assert "Cancel booking" not in links and "Reschedule" not in links
    before = written()
    for name, message in (("web:booking-cancel",
                           "Only the artist or a studio admin may cancel this booking."),
                          ("web:booking-reschedule",
                           "Only the artist or a studio admin may reschedule this booking.")):
        response = client.get(reverse(name, args=[booking.code]))
        assert response.status_code == 403
        assert texts(parse(response).xpath("//div[@role='alert']/p")) == [message]
    response = client.post(reverse("web:booking-cancel", args=[booking.code]),
                           {"expected_refund": "0"})
    assert response.status_code == 403
    assert written() == before and Booking.objects.get(pk=booking.pk).status == "confirmed"


# --- My bookings ----------------------------------------------------------------------------

@pytest.fixture
def history(world, make_user):
    """Two past and three upcoming bookings of the artist, one booking of someone else."""
    earlier = utc(2026, 11, 18, 12, 0)
    completed = book(world, FRI_10, at=earlier)
    with time_machine.travel(FRI_10 + timedelta(hours=3), tick=False):
        services.complete_booking(actor=world["admin"], booking=completed)
    rejected = book(world, SAT_14, service="lockout", at=earlier)
    with time_machine.travel(earlier + timedelta(hours=1), tick=False):
        services.reject_booking(actor=world["admin"], booking=rejected, reason="Closed")
    confirmed = book(world, TUE_10)
    awaiting = book(world, WED_10, service="lockout")
    canceled = book(world, THU_10)
    services.cancel_booking(actor=world["artist"], booking=canceled, now=NOW)
    book(world, utc(2026, 11, 24, 19, 0), actor=make_user())
    return {"completed": completed, "rejected": rejected, "confirmed": confirmed,
            "awaiting": awaiting, "canceled": canceled}


def cards(response) -> list[tuple[str, str]]:
    return [(card.get("data-booking"), text(card.xpath(".//span[contains(@class,'chip')]")[0]))
            for card in parse(response).xpath("//article[@data-booking]")]


def test_my_bookings_splits_upcoming_and_past(client, world, history):
    client.force_login(world["artist"])
    response = client.get(reverse("web:my-bookings"))
    assert response.status_code == 200
    assert response.context["nav"] == "my-bookings"
    assert cards(response) == [(history["confirmed"].code, "Confirmed"),
                               (history["awaiting"].code, "Awaiting approval"),
                               (history["canceled"].code, "Canceled")]
    tabs = parse(response).xpath("//nav[@aria-label='Bookings']/a")
    assert [(text(a), a.get("href"), a.get("aria-current")) for a in tabs] == [
        ("Upcoming", "/me/bookings", "page"), ("Past", "/me/bookings?tab=past", None)]

    response = client.get(reverse("web:my-bookings") + "?tab=past")
    assert cards(response) == [(history["rejected"].code, "Rejected"),
                               (history["completed"].code, "Completed")]
    tabs = parse(response).xpath("//nav[@aria-label='Bookings']/a")
    assert [a.get("aria-current") for a in tabs] == [None, "page"]


def test_a_session_in_progress_is_still_upcoming(client, world, history):
    client.force_login(world["artist"])
    with time_machine.travel(TUE_10 + timedelta(hours=1), tick=False):
        upcoming = cards(client.get(reverse("web:my-bookings")))
    with time_machine.travel(TUE_10 + timedelta(hours=2), tick=False):
        past = cards(client.get(reverse("web:my-bookings") + "?tab=past"))
    assert upcoming[0] == (history["confirmed"].code, "Confirmed")
    assert past[0] == (history["confirmed"].code, "Confirmed")


def test_a_card_shows_the_session_and_only_the_allowed_links(client, world, history):
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:my-bookings")))
    code = history["confirmed"].code
    card = tree.xpath(f"//article[@data-booking='{code}']")[0]
    assert text(card.xpath(".//h3")[0]) == "Recording at Northside Sound"
    facts = dict(zip(texts(card.xpath(".//dt")), texts(card.xpath(".//dd")), strict=True))
    assert facts == {"When": "Tue 24 Nov 2026, 10:00–12:00 (America/Toronto)",
                     "Studio": "Northside Sound", "Room": "Studio A",
                     "Engineer": "Eve Engineer", "Booking code": code}
    assert "Payment: Not paid yet · Total CAD 120.00" in text(card)
    assert [(text(a), a.get("href")) for a in card.xpath(".//a")] == [
        (f"View booking {code}", f"/me/bookings/{code}"),
        (f"Reschedule booking {code}", f"/me/bookings/{code}/reschedule"),
        (f"Cancel booking {code}", f"/me/bookings/{code}/cancel"),
        (f"Receipt for booking {code}", f"/receipt/{code}")]

    canceled = tree.xpath(f"//article[@data-booking='{history['canceled'].code}']")[0]
    assert [text(a).split()[0] for a in canceled.xpath(".//a")] == ["View", "Receipt"]
    past = parse(client.get(reverse("web:my-bookings") + "?tab=past"))
    for article in past.xpath("//article[@data-booking]"):
        assert [text(a).split()[0] for a in article.xpath(".//a")] == ["View", "Receipt"]


def test_my_bookings_queries_do_not_grow_with_the_bookings(client, world):
    client.force_login(world["artist"])
    book(world, TUE_10)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("web:my-bookings"))
    for day in range(1, 5):
        book(world, TUE_10 + timedelta(days=day))
    with CaptureQueriesContext(connection) as five:
        response = client.get(reverse("web:my-bookings"))
    assert len(cards(response)) == 5
    assert len(five.captured_queries) == len(one.captured_queries)
    # A card shows no price lines: they are not loaded.
    assert not [q for q in five.captured_queries if "bookinglineitem" in q["sql"]]


@pytest.mark.parametrize(("tab", "title"), [("", "No upcoming bookings"),
                                            ("?tab=past", "No past bookings")])
def test_each_tab_has_an_empty_state(client, world, tab, title):
    if tab:
        book(world, TUE_10)  # an upcoming booking: the past tab is still empty
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:my-bookings") + tab))
    empty = tree.xpath("//div[@class='empty']")[0]
    assert text(empty.xpath("./p[@class='empty-title']")[0]) == title
    assert [(text(a), a.get("href")) for a in empty.xpath(".//a")] == [("Find a studio", "/")]
    assert tree.xpath("//article") == []


# --- the booking page -----------------------------------------------------------------------

def test_awaiting_approval_explains_what_happens_next(client, world):
    booking = book(world, WED_10, service="lockout")
    client.force_login(world["artist"])
    response = client.get(reverse("web:booking", args=[booking.code]))
    tree = parse(response)
    assert texts(tree.xpath("//h1")) == ["Awaiting approval: Lockout at Northside Sound"]
    next_steps = text(tree.xpath("//section[@aria-labelledby='next-heading']")[0])
    assert ("Northside Sound reviews it, usually within 48 hours. We email you at "
            "artist@example.test as soon as they decide.") in next_steps
    assert ("Nothing is charged online: you pay CAD 120.00 at the studio or by invoice."
            in next_steps)
    # Not on the calendar until approved (recording-studio-prd.md 7.14).
    assert tree.xpath("//a[contains(@href, '.ics')]") == []
    assert "Add to Google Calendar" not in text(tree.xpath("//main")[0])
    links = [text(a) for a in tree.xpath("//main//a")]
    assert {"Reschedule", "Cancel booking", "Receipt"} <= set(links)


def test_a_booking_waiting_for_its_deposit_says_paying_confirms_it(client, world,
                                                                    make_service, api):
    world["studio"].first_booking_rule = "deposit"
    world["studio"].save()
    world["mixing"] = make_service(name="Mixing", deposit_percent=50)
    booking = book(world, WED_10, service="mixing")
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:booking", args=[booking.code])))
    assert texts(tree.xpath("//h1")) == ["Awaiting approval: Mixing at Northside Sound"]
    assert texts(tree.xpath("//p[@class='deposit-confirms']")) == [
        "Paying the deposit confirms it at once."]
    body = api.get(f"/bookings/{booking.code}", user=world["artist"])[1]
    assert (body["status"], body["confirm_on_payment"]) == ("awaiting_approval", True)

    waiting = book(world, THU_10, service="lockout")  # needs approval: no such line
    tree = parse(client.get(reverse("web:booking", args=[waiting.code])))
    assert tree.xpath("//p[@class='deposit-confirms']") == []
    assert api.get(f"/bookings/{waiting.code}", user=world["artist"])[1][
        "confirm_on_payment"] is False


def test_an_authorized_card_is_explained(client, world):
    booking = book(world, WED_10, service="lockout")
    Payment.objects.filter(booking=booking).update(status="requires_capture",
                                                    capture_before=NOW + timedelta(days=6))
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:booking", args=[booking.code])))
    assert text(tree.xpath("//p[@data-payment]")[0]) == (
        "Your card is authorized for CAD 120.00: nothing is charged unless the studio "
        "approves, and the authorization is released if they do not.")


def test_complete_payment_shows_only_when_the_pay_page_has_something_to_do(client, world):
    """A saved card (SetupIntent succeeded, charged on approval) needs nothing from the
    artist; a PaymentIntent still waiting for a payment method does. The link follows the
    pay page's own rule (payments.services.open_payment / retryable_payment)."""
    booking = book(world, WED_10, service="lockout")
    payment = Payment.objects.get(booking=booking)
    client.force_login(world["artist"])
    url = reverse("web:booking", args=[booking.code])

    Payment.objects.filter(pk=payment.pk).update(
        gateway="stripe", capture_method="setup", status="succeeded",
        intent_id="seti_123", client_secret="seti_123_secret_abc")
    page = client.get(url).content.decode()
    assert "Your card is saved" in page and "Complete payment" not in page

    Payment.objects.filter(pk=payment.pk).update(
        capture_method="manual", status="requires_payment_method",
        intent_id="pi_123", client_secret="pi_123_secret_abc")
    assert "Complete payment" in client.get(url).content.decode()


def test_confirmed_booking_has_calendar_links_and_the_price(client, world):
    booking = book(world, TUE_10)
    pay(world, booking, 5000)
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:booking", args=[booking.code])))
    assert texts(tree.xpath("//h1")) == ["Confirmed: Recording at Northside Sound"]
    download = tree.xpath("//a[normalize-space()='Download .ics']")[0]
    assert download.get("href") == f"/me/bookings/{booking.code}.ics"
    assert download.get("download") == f"booking-{booking.code}.ics"
    google = tree.xpath("//a[starts-with(normalize-space(), 'Add to Google Calendar')]")[0]
    outlook = tree.xpath("//a[starts-with(normalize-space(), 'Add to Outlook')]")[0]
    booking = Booking.objects.select_related("studio", "service", "room").get(pk=booking.pk)
    assert google.get("href") == ics.google_calendar_link(booking)
    assert outlook.get("href") == ics.outlook_link(booking)
    assert tree.xpath("//a[normalize-space()='Receipt']/@href") == [f"/receipt/{booking.code}"]
    rows = [texts(tr.xpath("./th|./td")) for tr in tree.xpath("//table[@class='price-table']//tr")]
    assert rows == [["Item", "Amount"], ["Recording, 2 h", "CAD 120.00"],
                    ["Total", "CAD 120.00"], ["Paid", "CAD 50.00"],
                    ["Balance due", "CAD 70.00"]]
    policy = text(tree.xpath("//section[@aria-labelledby='policy-heading']/p")[0])
    assert policy.startswith("Full refund if you cancel at least 48 h before the start")


def test_ics_download_carries_the_invites_uid_and_sequence(client, world,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(world, TUE_10)
    with django_capture_on_commit_callbacks(execute=True):
        services.reschedule_booking(actor=world["artist"], booking=booking, start_at=WED_10,
                                    now=NOW)
    state = CalendarState.objects.get(booking=booking)
    assert state.sequence == 1  # the rescheduled invite's SEQUENCE
    client.force_login(world["artist"])
    response = client.get(reverse("web:booking-ics", args=[booking.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="booking-{booking.code}.ics"')
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{booking.code}@studiobook"
    assert int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt.astimezone(UTC) == WED_10
    assert event["DTEND"].dt.astimezone(UTC) == WED_10 + timedelta(hours=2)
    assert str(event["STATUS"]) == "CONFIRMED"
    invite = icalendar.Calendar.from_ical(ics.invite(Booking.objects.get(pk=booking.pk)))
    [emailed] = invite.walk("VEVENT")
    assert (str(emailed["UID"]), int(emailed["SEQUENCE"])) == (str(event["UID"]), 1)


def test_ics_is_404_until_the_booking_is_approved(client, world):
    booking = book(world, WED_10, service="lockout")
    client.force_login(world["artist"])
    assert client.get(reverse("web:booking-ics", args=[booking.code])).status_code == 404
    services.approve_booking(actor=world["admin"], booking=booking)
    assert client.get(reverse("web:booking-ics", args=[booking.code])).status_code == 200


# --- cancel ---------------------------------------------------------------------------------

def cancel_page(client, booking):
    response = client.get(reverse("web:booking-cancel", args=[booking.code]))
    return response, parse(response)


def test_cancel_three_days_out_previews_a_full_refund(client, world):
    booking = book(world, THU_10)  # 75 h ahead
    pay(world, booking, 12000)
    client.force_login(world["artist"])
    response, tree = cancel_page(client, booking)
    assert response.status_code == 200
    assert text(tree.xpath("//p[@id='refund-text']")[0]) == (
        "Refund: CAD 120.00 (100% of the CAD 120.00 you paid)")
    refund_panel = text(tree.xpath("//section[@aria-labelledby='refund-heading']")[0])
    assert ("This refund applies until Tue 24 Nov 2026, 10:00 (America/Toronto)."
            in refund_panel)
    assert tree.xpath("//input[@name='expected_refund']/@value") == ["12000"]
    assert tree.xpath("//label[@for='id_reason']/text()")[0].strip() == "Reason"
    assert texts(tree.xpath("//main//form//button")) == ["Cancel booking"]


def test_cancel_thirty_hours_out_previews_half(client, world):
    start = NOW + timedelta(hours=30)  # Tue 24 Nov 13:00 local
    booking = book(world, start)
    pay(world, booking, 12000)
    client.force_login(world["artist"])
    _, tree = cancel_page(client, booking)
    assert text(tree.xpath("//p[@id='refund-text']")[0]) == (
        "Refund: CAD 60.00 (50% of the CAD 120.00 you paid)")
    assert ("This refund applies until Mon 23 Nov 2026, 13:00 (America/Toronto)."
            in text(tree.xpath("//section[@aria-labelledby='refund-heading']")[0]))
    assert tree.xpath("//input[@name='expected_refund']/@value") == ["6000"]


def test_cancel_post_cancels_and_refunds_what_was_shown(client, world):
    booking = book(world, THU_10)
    pay(world, booking, 12000)
    client.force_login(world["artist"])
    response = client.post(reverse("web:booking-cancel", args=[booking.code]),
                           {"reason": "Band split", "expected_refund": "12000"})
    assert (response.status_code, response["Location"]) == (302, f"/me/bookings/{booking.code}")
    booking.refresh_from_db()
    assert (booking.status, booking.status_reason) == ("canceled", "Band split")
    assert list(Refund.objects.values_list("amount_minor", "status")) == [(12000, "succeeded")]
    assert not Allocation.objects.filter(booking=booking, is_blocking=True).exists()
    tree = parse(client.get(response["Location"]))
    assert texts(tree.xpath("//div[@class='messages']/div")) == [
        "Booking canceled — refund CAD 120.00"]
    assert texts(tree.xpath("//h1")) == ["Canceled: Recording at Northside Sound"]


def test_a_stale_refund_is_a_409_and_nothing_changes(client, world):
    booking = book(world, WED_10)  # the full refund ends at 10:00 local, 3 h from now
    pay(world, booking, 12000)
    client.force_login(world["artist"])
    _, tree = cancel_page(client, booking)
    assert tree.xpath("//input[@name='expected_refund']/@value") == ["12000"]
    before, booking_before = written(), state_of(booking)
    with time_machine.travel(NOW + timedelta(hours=4), tick=False):
        response = client.post(reverse("web:booking-cancel", args=[booking.code]),
                               {"reason": "Flu", "expected_refund": "12000"})
    assert response.status_code == 409
    assert (written(), state_of(booking)) == (before, booking_before)
    tree = parse(response)
    assert text(tree.xpath("//div[@id='refund-changed']")[0]).startswith(
        "The refund changed while you were deciding. A refund deadline has passed: "
        "cancelling now refunds CAD 60.00, not CAD 120.00. Nothing was canceled.")
    assert text(tree.xpath("//p[@id='refund-text']")[0]) == (
        "Refund: CAD 60.00 (50% of the CAD 120.00 you paid)")
    assert tree.xpath("//input[@name='expected_refund']/@value") == ["6000"]
    assert [t.strip() for t in tree.xpath("//textarea[@name='reason']/text()")] == ["Flu"]


def test_a_missing_refund_figure_is_422_and_nothing_changes(client, world):
    booking = book(world, THU_10)
    client.force_login(world["artist"])
    before, booking_before = written(), state_of(booking)
    response = client.post(reverse("web:booking-cancel", args=[booking.code]),
                           {"reason": "x" * 20, "expected_refund": "lots"})
    assert response.status_code == 422
    assert (written(), state_of(booking)) == (before, booking_before)
    tree = parse(response)
    assert texts(tree.xpath("//div[@role='alert']/p")) == [
        "The refund shown was missing; check it and confirm again."]
    assert tree.xpath("//input[@name='expected_refund']/@value") == ["0"]


def test_a_too_long_reason_is_shown_next_to_the_field(client, world):
    booking = book(world, THU_10)
    client.force_login(world["artist"])
    before = written()
    response = client.post(reverse("web:booking-cancel", args=[booking.code]),
                           {"reason": "x" * 501, "expected_refund": "0"})
    assert response.status_code == 422 and written() == before
    field = parse(response).xpath("//textarea[@name='reason']/..")[0]
    assert texts(field.xpath(".//p[@class='error']")) == [
        "Ensure this value has at most 500 characters (it has 501)."]


def test_a_canceled_booking_cannot_be_canceled_again(client, world):
    booking = book(world, THU_10)
    services.cancel_booking(actor=world["artist"], booking=booking, now=NOW)
    client.force_login(world["artist"])
    response, tree = cancel_page(client, booking)
    assert response.status_code == 409
    assert texts(tree.xpath("//div[@role='alert']/p")) == [
        "Cannot cancel a booking that is canceled."]
    assert tree.xpath("//form[@method='post' and .//button[normalize-space()='Cancel booking']]") \
        == []


# --- reschedule -----------------------------------------------------------------------------

@pytest.fixture
def busy_tuesday(world, make_blackout, make_room, make_user):
    """Tuesday 24 Nov: the studio closes at 15:00 local (a blackout from then on); Eve has
    another session 13:00-14:00 in Studio B; the artist's booking is 10:00-12:00."""
    make_blackout(start_at=utc(2026, 11, 24, 20, 0), end_at=utc(2026, 11, 25, 2, 0))
    room_b = make_room(name="Studio B")
    other = book(world, utc(2026, 11, 24, 18, 0), minutes=60, actor=make_user(),
                 room_id=room_b.id)
    return {"mine": book(world, TUE_10, room_id=world["room"].id), "other": other}


def time_buttons(tree) -> list[tuple[str, str]]:
    return [(text(b), b.get("value")) for b in tree.xpath("//ul[@class='time-grid']//button")]


def test_reschedule_lists_exactly_the_free_start_times(client, world, busy_tuesday):
    booking = busy_tuesday["mine"]
    client.force_login(world["artist"])
    response = client.get(reverse("web:booking-reschedule", args=[booking.code]),
                          {"date": "2026-11-24"})
    assert response.status_code == 200
    tree = parse(response)
    assert tree.xpath("//label[@for='id_date']/text()")[0].strip() == "New date"
    assert tree.xpath("//input[@name='date' and @type='date']/@value") == ["2026-11-24"]
    assert text(tree.xpath("//h3[@id='times-heading']")[0]) == (
        "Free start times on Tuesday 24 November 2026")
    # 09:00-13:00 fit before the 15:00 close; Eve is busy 13:00-14:00, so 11:15-13:00 are
    # out; the booking's own 10:00-12:00 does not block its move; its own start is left out.
    assert time_buttons(tree) == [
        ("09:00", "2026-11-24T14:00:00Z"), ("09:15", "2026-11-24T14:15:00Z"),
        ("09:30", "2026-11-24T14:30:00Z"), ("09:45", "2026-11-24T14:45:00Z"),
        ("10:15", "2026-11-24T15:15:00Z"), ("10:30", "2026-11-24T15:30:00Z"),
        ("10:45", "2026-11-24T15:45:00Z"), ("11:00", "2026-11-24T16:00:00Z")]


def test_reschedule_defaults_to_the_bookings_day_and_has_an_empty_state(client, world,
                                                                        busy_tuesday,
                                                                        make_blackout):
    booking = busy_tuesday["mine"]
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:booking-reschedule", args=[booking.code])))
    assert tree.xpath("//input[@name='date' and @type='date']/@value") == ["2026-11-24"]
    assert len(time_buttons(tree)) == 8
    make_blackout(start_at=utc(2026, 11, 27, 5, 0), end_at=utc(2026, 11, 28, 5, 0))
    tree = parse(client.get(reverse("web:booking-reschedule", args=[booking.code]),
                            {"date": "2026-11-27"}))
    assert time_buttons(tree) == []
    assert text(tree.xpath("//p[@class='empty-title']")[0]) == "No free start times on this day"


def test_a_bad_date_is_422_next_to_the_field(client, world, busy_tuesday):
    client.force_login(world["artist"])
    response = client.get(reverse("web:booking-reschedule",
                                  args=[busy_tuesday["mine"].code]), {"date": "2026-02-30"})
    assert response.status_code == 422
    field = parse(response).xpath("//input[@name='date']/..")[0]
    assert texts(field.xpath(".//p[@class='error']")) == ["Enter a valid date."]
    assert field.xpath(".//input/@value") == ["2026-02-30"]


def test_reschedule_preview_shows_the_fee(client, world, busy_tuesday):
    booking = busy_tuesday["mine"]
    Booking.objects.filter(pk=booking.pk).update(policy_snapshot={
        **booking.policy_snapshot,
        "reschedule": core_policies.policy_to_dict(
            core_policies.ReschedulePolicy(free_reschedules=0, fee_minor=2500))})
    client.force_login(world["artist"])
    before = written()
    response = client.get(reverse("web:booking-reschedule", args=[booking.code]),
                          {"date": "2026-11-24", "start": "2026-11-24T14:00:00+00:00"})
    assert response.status_code == 200 and written() == before
    tree = parse(response)
    assert text(tree.xpath("//dd[@id='new-time']")[0]) == (
        "Tue 24 Nov 2026, 09:00–11:00 (America/Toronto)")
    assert text(tree.xpath("//dd[@id='reschedule-fee']")[0]) == "CAD 25.00"
    assert tree.xpath("//input[@name='expected_fee']/@value") == ["2500"]
    # The listed times and the confirm form carry instants as the strip does (``Z``); an
    # offset such as "+00:00" (the GET above) is read too.
    assert tree.xpath("//input[@name='start']/@value") == ["2026-11-24T14:00:00Z"]
    assert texts(tree.xpath("//main//form[@method='post']//button")) == ["Confirm reschedule"]


def test_a_free_reschedule_says_free_and_post_moves_the_booking(client, world, busy_tuesday):
    booking = busy_tuesday["mine"]
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:booking-reschedule", args=[booking.code]),
                            {"date": "2026-11-24", "start": "2026-11-24T14:00:00+00:00"}))
    assert text(tree.xpath("//dd[@id='reschedule-fee']")[0]) == "Free"
    response = client.post(reverse("web:booking-reschedule", args=[booking.code]),
                           {"date": "2026-11-24", "start": "2026-11-24T14:00:00+00:00",
                            "expected_fee": "0"})
    assert (response.status_code, response["Location"]) == (302, f"/me/bookings/{booking.code}")
    booking.refresh_from_db()
    assert (booking.start_at, booking.end_at, booking.reschedule_count, booking.room_id) == (
        utc(2026, 11, 24, 14, 0), utc(2026, 11, 24, 16, 0), 1, world["room"].id)
    assert list(booking.assignments.values_list("staff_id", flat=True)) == [
        world["engineer"].id]
    assert sorted(Allocation.objects.filter(booking=booking).values_list(
        "start_at", "end_at")) == [(utc(2026, 11, 24, 14, 0), utc(2026, 11, 24, 16, 0))] * 2
    tree = parse(client.get(response["Location"]))
    assert texts(tree.xpath("//div[@class='messages']/div")) == [
        "Booking moved to Tue 24 Nov 2026, 09:00 (America/Toronto) — no fee"]


def test_a_taken_slot_is_a_409_and_nothing_is_written(client, world, busy_tuesday):
    booking = busy_tuesday["mine"]
    client.force_login(world["artist"])
    before, booking_before = written(), state_of(booking)
    response = client.post(reverse("web:booking-reschedule", args=[booking.code]),
                           {"date": "2026-11-24", "start": "2026-11-24T17:00:00+00:00",
                            "expected_fee": "0"})  # 12:00-14:00 overlaps Eve's 13:00
    assert response.status_code == 409
    assert (written(), state_of(booking)) == (before, booking_before)
    tree = parse(response)
    alert = text(tree.xpath("//div[@id='reschedule-error']")[0])
    assert alert.endswith("Nothing was changed.")
    assert "Eve Engineer" in alert
    assert len(time_buttons(tree)) == 8  # the day's times again, to choose another


def test_a_changed_fee_is_a_409_with_the_new_fee(client, world):
    booking = book(world, TUE_10)  # free until 24 h before: 3 h from now
    Booking.objects.filter(pk=booking.pk).update(policy_snapshot={
        **booking.policy_snapshot,
        "reschedule": core_policies.policy_to_dict(
            core_policies.ReschedulePolicy(fee_minor=2500))})
    client.force_login(world["artist"])
    target = {"date": "2026-11-25", "start": "2026-11-25T15:00:00+00:00"}
    tree = parse(client.get(reverse("web:booking-reschedule", args=[booking.code]), target))
    assert text(tree.xpath("//dd[@id='reschedule-fee']")[0]) == "Free"
    before, booking_before = written(), state_of(booking)
    with time_machine.travel(NOW + timedelta(hours=4), tick=False):
        response = client.post(reverse("web:booking-reschedule", args=[booking.code]),
                               {**target, "expected_fee": "0"})
    assert response.status_code == 409
    assert (written(), state_of(booking)) == (before, booking_before)
    tree = parse(response)
    assert text(tree.xpath("//div[@id='fee-changed']")[0]).startswith(
        "The fee changed while you were deciding. Moving now costs CAD 25.00, not CAD 0.00.")
    assert text(tree.xpath("//dd[@id='reschedule-fee']")[0]) == "CAD 25.00"
    assert tree.xpath("//input[@name='expected_fee']/@value") == ["2500"]


def test_a_started_session_cannot_be_rescheduled(client, world):
    booking = book(world, TUE_10)
    client.force_login(world["artist"])
    with time_machine.travel(TUE_10 + timedelta(minutes=30), tick=False):
        response = client.get(reverse("web:booking-reschedule", args=[booking.code]))
    assert response.status_code == 409
    tree = parse(response)
    assert texts(tree.xpath("//div[@id='reschedule-error']/p")) == [
        "This session has started: it can no longer be rescheduled."]
    assert tree.xpath("//ul[@class='time-grid']") == []


# --- settings -------------------------------------------------------------------------------

def test_settings_save_notification_preferences(client, world):
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:me-settings")))
    assert tree.xpath("//input[@name='email']/@checked") == ["checked"]
    assert tree.xpath("//a[normalize-space()='Change password']/@href") == [
        "/accounts/password/change/"]
    assert tree.xpath("//a[normalize-space()='Email addresses']/@href") == ["/accounts/email/"]
    response = client.post(reverse("web:me-settings"),
                           {"action": "preferences", "language": "fr"})
    assert (response.status_code, response["Location"]) == (302, "/me/settings")
    preference = NotificationPreference.objects.get(user=world["artist"])
    assert (preference.email, preference.sms, preference.language) == (False, False, "fr")


def test_sms_without_a_phone_is_422_next_to_the_field(client, world):
    client.force_login(world["artist"])
    response = client.post(reverse("web:me-settings"),
                           {"action": "preferences", "email": "on", "sms": "on"})
    assert response.status_code == 422
    assert not NotificationPreference.objects.filter(user=world["artist"]).exists()
    field = parse(response).xpath("//input[@name='sms']/..")[0]
    assert texts(field.xpath(".//p[@class='error']")) == [
        "add a phone number before turning SMS on"]
    assert field.xpath(".//input/@checked") == ["checked"]


def test_settings_take_a_phone_number_and_turn_sms_on(client, world):
    artist = world["artist"]
    client.force_login(artist)
    tree = parse(client.get(reverse("web:me-settings")))
    phone = tree.xpath("//input[@name='phone']")[0]
    assert (phone.get("type"), phone.get("autocomplete"), phone.get("value")) == (
        "tel", "tel", None)
    response = client.post(reverse("web:me-settings"), {
        "action": "preferences", "email": "on", "sms": "on", "phone": "+1 (416) 555-0199"})
    assert (response.status_code, response["Location"]) == (302, "/me/settings")
    artist.refresh_from_db()
    assert artist.phone == "+14165550199"
    assert NotificationPreference.objects.get(user=artist).sms is True
    tree = parse(client.get(reverse("web:me-settings")))
    assert tree.xpath("//input[@name='phone']/@value") == ["+1 416-555-0199"]
    assert tree.xpath("//input[@name='sms']/@checked") == ["checked"]


def test_a_phone_number_without_its_country_code_is_422_and_kept_as_typed(client, world):
    client.force_login(world["artist"])
    response = client.post(reverse("web:me-settings"), {
        "action": "preferences", "email": "on", "sms": "on", "phone": "416 555 0199"})
    assert response.status_code == 422
    world["artist"].refresh_from_db()
    assert world["artist"].phone == ""
    assert not NotificationPreference.objects.filter(user=world["artist"]).exists()
    field = parse(response).xpath("//input[@name='phone']/..")[0]
    assert texts(field.xpath(".//p[@class='error']")) == [
        "enter the number with its country code, e.g. +1 416 555 0100"]
    assert field.xpath(".//input/@value") == ["416 555 0199"]
    assert field.xpath(".//input/@aria-invalid") == ["true"]


def test_rotating_the_feed_shows_its_url_once(client, world):
    booking = book(world, TUE_10)
    client.force_login(world["artist"])
    tree = parse(client.get(reverse("web:me-settings")))
    assert texts(tree.xpath("//form//button[contains(., 'feed URL')]")) == [
        "Create my feed URL"]
    response = client.post(reverse("web:me-settings"), {"action": "rotate-feed"})
    assert response.status_code == 200
    url = parse(response).xpath("//input[@id='feed-url']/@value")[0]
    assert url.startswith(f"http://testserver/calendar/me/{world['artist'].id}.ics?token=")
    assert FeedToken.objects.filter(user=world["artist"], is_active=True).count() == 1
    feed = client.get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200 and booking.code.encode() in feed.content

    tree = parse(client.get(reverse("web:me-settings")))
    assert tree.xpath("//input[@id='feed-url']") == []
    assert texts(tree.xpath("//form//button[contains(., 'feed URL')]")) == [
        "Get a new feed URL"]
