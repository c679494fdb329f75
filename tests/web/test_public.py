"""The public booking flow in the browser: studio list and home, availability (the tape
strip), the booking drawer, the hold and its countdown, paying, and the policies page.

The world: Northside Sound in Toronto (open 09:00-21:00), "Studio A" open 10:00-14:00, a
60-minute grid, and someone else's booking 11:00-12:00 on Tuesday 24 November 2026 (EST,
UTC-5). The clock is frozen at Monday 23 November 12:00 UTC.
"""

from __future__ import annotations

from datetime import time, timedelta
from urllib.parse import urlencode

import lxml.html
import pytest
import time_machine
from django.urls import reverse

from studiobook.bookings import services
from studiobook.bookings.models import Booking, Hold
from studiobook.payments import services as payments
from studiobook.payments.gateways import IntentResult
from studiobook.payments.models import Payment
from studiobook.studios.models import Fee, Room, TaxRate
from tests.support.factories import NOW, utc

DAY = "2026-11-24"
NOON = "2026-11-24T17:00:00Z"  # 12:00 in Toronto


@pytest.fixture
def world(studio, make_room, make_rule, make_service, make_user, artist):
    studio.address, studio.city = "1184 Dundas Street West", "Toronto"
    studio.description = "A three-room recording studio."
    studio.slot_grid_minutes = 60
    studio.save()
    room = make_room(name="Studio A", capacity=6, equipment=["Neve 8078 console", "Yamaha C7"])
    make_rule(target_type="room", room=room, start_time=time(10), end_time=time(14))
    service = make_service(name="Recording", base_price_minor=6000, default_duration_minutes=60,
                           min_duration_minutes=60, max_duration_minutes=480,
                           duration_step_minutes=60, requires_approval=True)
    someone = make_user(email="someone@example.test")
    services.create_booking(actor=someone, studio=studio, service=service,
                            start_at=utc(2026, 11, 24, 16), duration_minutes=60,
                            room_id=room.id, now=NOW)
    return {"studio": studio, "room": room, "service": service, "artist": artist,
            "someone": someone}


def parse(response):
    return lxml.html.document_fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(element.text_content().split())


def starts(doc) -> list[tuple[str, str, str, str]]:
    return [(b.get("data-start"), b.get("data-room-id"), b.get("aria-label"), text(b))
            for b in doc.xpath("//*[@id='tape-strip']//button[@data-start]")]


def field_errors(doc, input_id: str) -> list[str]:
    """The errors shown inside the field wrapper of the input ``input_id``."""
    return [text(p) for p in doc.xpath(
        f"//div[contains(@class, 'field')][.//*[@id='{input_id}']]//p[@class='error']")]


def availability(client, world, **params):
    query = {"date": DAY, "service": world["service"].id, "duration": 60} | params
    return client.get(f"/studios/northside/availability?{urlencode(query)}")


def slot_params(world, **overrides) -> dict:
    return {"service": world["service"].id, "start": NOON, "duration": 120,
            "room": world["room"].id} | overrides


# --- home and studio -----------------------------------------------------------------------------

def test_home_with_one_studio_is_that_studios_home(client, world):
    doc = parse(client.get("/"))
    assert text(doc.xpath("//h1")[0]) == "Northside Sound"
    assert [text(h) for h in doc.xpath("//ul[contains(@class, 'room-list')]//h3")] == ["Studio A"]
    assert doc.xpath("//a[text()='Check availability']/@href")[0] == (
        "/studios/northside/availability")


def test_home_with_several_studios_lists_and_searches_them(client, make_studio):
    make_studio(slug="northside", name="Northside Sound", city="Toronto")
    make_studio(slug="harbour", name="Harbour Tracks", city="Halifax")
    make_studio(slug="mile-end", name="Mile End Sound", city="Montreal")

    def names(query: str = ""):
        doc = parse(client.get(f"/{query}"))
        return [text(a) for a in doc.xpath("//li[contains(@class, 'studio-card')]//h2/a")], doc

    assert names()[0] == ["Harbour Tracks", "Mile End Sound", "Northside Sound"]
    assert names("?q=sound")[0] == ["Mile End Sound", "Northside Sound"]
    found, doc = names("?city=Halifax")
    assert found == ["Harbour Tracks"]
    assert doc.xpath("//select[@name='city']/option[@selected]/text()") == ["Halifax"]
    assert names("?q=sound&city=montreal")[0] == ["Mile End Sound"]
    found, doc = names("?q=nothing-like-this")
    assert found == []
    assert text(doc.xpath("//*[@class='empty-title']")[0]) == "No studios match your search"
    assert doc.xpath("//div[@class='empty']//a/@href") == ["/"]


def test_home_without_studios_says_so(client, db):
    doc = parse(client.get("/"))
    assert text(doc.xpath("//*[@class='empty-title']")[0]) == "No studios yet"


def test_studio_home_shows_rooms_services_and_the_way_to_availability(client, world,
                                                                     make_room, make_service):
    booth = make_room(name="Vocal Booth")
    booth.photo.name = "rooms/booth.jpg"
    booth.save()
    make_service(name="Tape transfer", is_add_on=True, price_unit="session",
                 base_price_minor=2500)
    doc = parse(client.get("/studios/northside/"))

    assert text(doc.xpath("//h1")[0]) == "Northside Sound"
    assert text(doc.xpath("//p[@class='studio-where']")[0]) == "1184 Dundas Street West, Toronto"
    cards = doc.xpath("//ul[contains(@class, 'room-list')]/li")
    assert [text(c.xpath(".//h3")[0]) for c in cards] == ["Studio A", "Vocal Booth"]
    assert [text(li) for li in cards[0].xpath(".//ul[@class='equipment small']/li")] == [
        "Neve 8078 console", "Yamaha C7"]
    assert "up to 6 people" in text(cards[0])
    assert cards[0].xpath(".//div[@class='room-placeholder']") and not cards[0].xpath(".//img")
    assert cards[1].xpath(".//img/@src") == ["/media/rooms/booth.jpg"]
    service = doc.xpath("//ul[contains(@class, 'service-list')]/li")
    assert [text(s.xpath(".//h3")[0]) for s in service] == ["Recording"]
    assert text(service[0].xpath(".//p[@class='price']")[0]) == "CAD 60.00 per hour"
    assert text(doc.xpath("//ul[@class='extras-list']/li")[0]) == "Tape transfer: CAD 25.00 each"
    assert doc.xpath("//section[@class='studio-hero']//a/@href") == [
        "/studios/northside/availability", "/studios/northside/policies"]


def test_an_unknown_studio_is_404(client, db):
    assert client.get("/studios/nowhere/").status_code == 404
    assert client.get("/studios/nowhere/availability").status_code == 404


# --- availability --------------------------------------------------------------------------------

def test_availability_shows_the_exact_free_blocks(client, world):
    response = availability(client, world)
    assert response.status_code == 200
    doc = parse(response)
    room = str(world["room"].id)
    assert starts(doc) == [
        ("2026-11-24T15:00:00Z", room, "Studio A, Tue 24 Nov 10:00–11:00", "10:00"),
        ("2026-11-24T17:00:00Z", room, "Studio A, Tue 24 Nov 12:00–13:00", "12:00"),
        ("2026-11-24T18:00:00Z", room, "Studio A, Tue 24 Nov 13:00–14:00", "13:00"),
    ]
    strip = doc.xpath("//*[@id='tape-strip']")[0]
    assert strip.get("aria-live") == "polite"
    assert strip.get("data-stream-url") == "/api/studios/northside/availability/stream"
    assert [s.get("class") for s in strip.xpath(".//div[@class='tape-bar']/span")] == [
        "seg seg-closed", "seg seg-free", "seg seg-taken", "seg seg-free", "seg seg-closed",
        "tape-preview"]
    # The studio's window, 09:00-21:00: the taken hour is 11:00-12:00, 1/6 of the way in.
    assert strip.xpath(".//span[@class='seg seg-taken']/@style") == [
        "left: 16.6667%; width: 8.3333%"]
    assert text(strip.xpath(".//div[@class='tape-row']//p[@class='visually-hidden']")[0]) == (
        "Closed 09:00–10:00. Taken 11:00–12:00. Closed 14:00–21:00.")
    assert strip.xpath(".//div[@class='strip']/@data-room-ids") == [room]
    # The form: real labels, "Any room", the search as given.
    labels = {text(label): label.get("for")
              for label in doc.xpath("//form[@id='availability-form']//label")}
    assert labels == {"Date *": "id_date", "Service *": "id_service",
                      "Duration (minutes) *": "id_duration", "Room": "id_room"}
    assert doc.xpath("//select[@name='room']/option[1]/text()") == ["Any room"]
    assert doc.xpath("//input[@id='id_date']/@value") == [DAY]
    assert "America/Toronto" in text(doc.xpath("//*[@id='zone-note']")[0])


def test_availability_defaults_to_today_and_the_services_length(client, world):
    doc = parse(client.get("/studios/northside/availability"))
    # 12:00 UTC is 07:00 in Toronto: the whole room day is still ahead.
    assert doc.xpath("//input[@id='id_date']/@value") == ["2026-11-23"]
    assert doc.xpath("//input[@id='id_duration']/@value") == ["60"]
    assert [s[3] for s in starts(doc)] == ["10:00", "11:00", "12:00", "13:00"]


def test_availability_on_the_day_the_clocks_fall_back(client, make_studio, make_room,
                                                      make_service, make_user):
    night = make_studio(slug="night", name="Night Owl", hours=(time(0), time(4)),
                        slot_grid_minutes=60)
    room = make_room(studio=night, name="Studio A")
    service = make_service(studio=night, name="Late session", default_duration_minutes=60)
    with time_machine.travel(utc(2026, 10, 30, 12), tick=False):
        # Sunday 1 Nov 2026: 02:00 EDT becomes 01:00 EST; someone has 02:00-03:00 EST.
        services.create_booking(actor=make_user(), studio=night, service=service,
                                start_at=utc(2026, 11, 1, 7), duration_minutes=60)
        doc = parse(client.get(f"/studios/night/availability?date=2026-11-01&service="
                               f"{service.id}&duration=60"))
    room_id = str(room.id)
    assert starts(doc) == [
        ("2026-11-01T04:00:00Z", room_id, "Studio A, Sun 1 Nov 00:00 EDT–01:00 EDT", "00:00"),
        ("2026-11-01T05:00:00Z", room_id, "Studio A, Sun 1 Nov 01:00 EDT–01:00 EST",
         "01:00 EDT"),
        ("2026-11-01T06:00:00Z", room_id, "Studio A, Sun 1 Nov 01:00 EST–02:00 EST",
         "01:00 EST"),
        ("2026-11-01T08:00:00Z", room_id, "Studio A, Sun 1 Nov 03:00–04:00", "03:00"),
    ]
    assert [text(t) for t in doc.xpath("//span[contains(@class, 'tape-tick')]/span")] == [
        "00:00", "01:00 EDT", "01:00 EST", "02:00", "03:00", "04:00"]


@pytest.mark.parametrize(("params", "field", "error"), [
    ({"date": "2026-02-30"}, "id_date", "Enter a date like 2026-11-24."),
    ({"date": "2026-11-22"}, "id_date", "That day has passed: pick 2026-11-23 or later."),
    ({"date": "2027-11-24"}, "id_date",
     "Bookings open 365 days ahead: pick a day up to 2027-11-23."),
    ({"duration": "90"}, "id_duration", "The duration must be a multiple of 60 minutes"),
    ({"duration": "ninety"}, "id_duration", "Enter the length in whole minutes, e.g. 120."),
    ({"room": "99999"}, "id_room",
     "Select a valid choice. 99999 is not one of the available choices."),
])
def test_bad_search_input_is_422_with_the_error_next_to_the_field(client, world, params,
                                                                 field, error):
    response = availability(client, world, **params)
    assert response.status_code == 422
    doc = parse(response)
    assert field_errors(doc, field) == [error]
    assert starts(doc) == []
    # What the user typed is still there (a room that is not offered cannot be shown).
    name = field.removeprefix("id_")
    if name != "room":
        assert doc.xpath(f"//*[@id='{field}']/@value") == [str(params[name])]


def test_a_room_that_does_not_suit_the_service_is_422_next_to_room(client, world, make_room):
    booth = make_room(name="Booth", tags=["vocal"])
    doc = parse(response := availability(client, world, room=booth.id))
    assert response.status_code == 422
    assert field_errors(doc, "id_room")[0].startswith(f"room {booth.id} is inactive or lacks")


def test_an_htmx_search_gets_only_the_strip(client, world):
    response = client.get(
        f"/studios/northside/availability?date={DAY}&service={world['service'].id}&duration=60",
        HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["Vary"] == "HX-Request"
    doc = parse(response)
    assert doc.xpath("//h1") == [] and doc.xpath("//form[@id='availability-form']") == []
    assert len(doc.xpath("//button[@data-start]")) == 3

    bad = client.get(f"/studios/northside/availability?date={DAY}&service="
                     f"{world['service'].id}&duration=90", HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    doc = parse(bad)
    # The form comes back out of band with the error beside Duration; the strip says why.
    assert doc.xpath("//form[@id='availability-form']/@hx-swap-oob") == ["true"]
    assert field_errors(doc, "id_duration") == ["The duration must be a multiple of 60 minutes"]
    assert "Check your search." in text(doc.xpath("//div[contains(@class, 'strip-error')]")[0])


def test_a_day_without_free_time_says_so_and_offers_the_next_day(client, world):
    doc = parse(availability(client, world, duration=300))  # longer than the room is open
    assert starts(doc) == []
    empty = doc.xpath("//*[@id='tape-strip']//div[@class='empty']")[0]
    assert text(empty.xpath("./p[@class='empty-title']")[0]) == (
        "No free time on this day — try another date")
    assert empty.xpath(".//a/@href") == [
        f"/studios/northside/availability?date=2026-11-25&service={world['service'].id}"
        "&duration=300"]


def test_a_closed_day_says_so(client, world, studio):
    studio.schedule_rules.filter(target_type="studio").update(weekdays=[1, 2, 3, 4, 5])
    doc = parse(availability(client, world, date="2026-11-29"))  # a Sunday
    assert text(doc.xpath("//*[@id='tape-strip']//p[@class='empty-title']")[0]) == (
        "Closed on this day")


def test_a_studio_without_services_has_an_empty_state(client, studio):
    doc = parse(client.get("/studios/northside/availability"))
    assert text(doc.xpath("//p[@class='empty-title']")[0]) == "Nothing to book yet"


# --- the booking drawer --------------------------------------------------------------------------

@pytest.fixture
def priced(world):
    """HST 13 %, a CAD 5.00 booking fee, a 25 % deposit."""
    TaxRate.objects.create(studio=world["studio"], name="HST", rate_ppm=130000)
    Fee.objects.create(studio=world["studio"], name="Booking fee", kind="fixed", amount=500)
    world["service"].deposit_percent = 25
    world["service"].save()
    return world


def quote_rows(doc) -> list[tuple[str, str]]:
    return [(text(tr.xpath("./th")[0]), text(tr.xpath("./td")[0]))
            for tr in doc.xpath("//table[@class='quote-table']/tbody/tr")]


def test_the_drawer_shows_the_exact_quote_and_the_policy(client, priced):
    client.force_login(priced["artist"])
    response = client.get(f"/studios/northside/book?{urlencode(slot_params(priced))}",
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    doc = parse(response)
    dialog = doc.xpath("//*[@role='dialog']")[0]
    assert (dialog.get("aria-modal"), dialog.get("aria-labelledby")) == ("true", "drawer-title")
    assert text(doc.xpath("//*[@id='drawer-title']")[0]) == "Studio A, Tue 24 Nov 12:00–14:00"
    # 2 h x 60.00 = 120.00; + 5.00 fee = 125.00; HST 13 % = 16.25; total 141.25. The
    # session is 29 h away, inside the 48-h balance lead: checkout takes it all at once, so
    # no deposit is offered (payments.services.checkout_plan, as start_checkout).
    assert quote_rows(doc) == [
        ("Recording, 2 h", "CAD 120.00"), ("Booking fee", "CAD 5.00"),
        ("Subtotal", "CAD 125.00"), ("HST (13%)", "CAD 16.25"), ("Total", "CAD 141.25")]
    assert text(doc.xpath("//p[contains(@class, 'quote-note')]")[0]) == (
        "The session starts within 48 hours, so the whole total is due now rather than a "
        "deposit. Pay at the studio or by invoice.")
    assert text(doc.xpath("//*[@id='policy-summary']")[0]) == (
        "Full refund if you cancel at least 48 h before the start; 50% at least 24 h before; "
        "no refund after that. You can reschedule free of charge any time before the start. "
        "Hours are counted on the studio's local clock (America/Toronto).")
    checkbox = doc.xpath("//input[@type='checkbox']")[0]
    assert checkbox.get("name") == "agree"
    assert text(doc.xpath(f"//label[@for='{checkbox.get('id')}']")[0]) == (
        "I agree to the cancellation and reschedule policy *")
    assert [text(b) for b in doc.xpath("//form//button[@type='submit']")] == ["Hold this slot"]
    # Loading state: htmx disables the button while the hold is placed (one tap, one hold)
    # and shows the note (.loading is displayed under .htmx-request).
    form = doc.xpath("//form[contains(@class, 'drawer-form')]")[0]
    assert form.get("hx-disabled-elt") == "find button[type='submit']"
    assert text(form.xpath(".//*[@id='hold-loading']")[0]) == "Holding the slot…"
    assert "loading" in form.xpath(".//*[@id='hold-loading']")[0].get("class").split()
    assert doc.xpath("//button[@data-drawer-close]/text()") == ["Close"]


def test_the_drawer_shows_the_deposit_checkout_will_take(client, priced):
    """Three days out (beyond the 48-h balance lead) the 25 % deposit comes first and the
    balance later, exactly the two payments start_checkout creates (offline: no card
    wording)."""
    client.force_login(priced["artist"])
    later = slot_params(priced, start="2026-11-26T17:00:00Z")
    doc = parse(client.get(f"/studios/northside/book?{urlencode(later)}",
                           HTTP_HX_REQUEST="true"))
    # deposit 25 % of 141.25 = 35.3125, half-even to 35.31; balance 105.94.
    assert quote_rows(doc)[-2:] == [("Deposit (25%)", "CAD 35.31"),
                                    ("Balance, due later", "CAD 105.94")]

    response = client.post("/studios/northside/book", later | {"agree": "on"})
    hold = Hold.objects.get()
    assert response.status_code == 302
    client.post(f"/holds/{hold.token}")
    booked = Booking.objects.get(hold=hold)
    assert sorted(booked.payments.values_list("purpose", "amount_minor")) == [
        ("balance", 10594), ("deposit", 3531)]


def test_the_drawer_is_a_page_of_its_own_without_htmx(client, priced):
    client.force_login(priced["artist"])
    doc = parse(client.get(f"/studios/northside/book?{urlencode(slot_params(priced))}"))
    assert doc.xpath("//*[@role='dialog']") == []  # a page, not a modal dialog
    assert text(doc.xpath("//*[@id='drawer-title']")[0]) == "Studio A, Tue 24 Nov 12:00–14:00"
    assert quote_rows(doc)[4] == ("Total", "CAD 141.25")
    assert doc.xpath("//*[@id='drawer-host']//form[@method='post']/@action") == [
        "/studios/northside/book"]


def test_a_guest_is_asked_to_sign_in_and_comes_back_to_the_search(client, priced):
    doc = parse(client.get(f"/studios/northside/book?{urlencode(slot_params(priced))}",
                           HTTP_HX_REQUEST="true"))
    back = (f"/studios/northside/availability?date={DAY}&service={priced['service'].id}"
            f"&duration=120&room={priced['room'].id}")
    prompt = doc.xpath("//div[contains(@class, 'sign-in-prompt')]")[0]
    assert [(text(a), a.get("href")) for a in prompt.xpath(".//a")] == [
        ("Sign in", f"/accounts/login/?{urlencode({'next': back})}"),
        ("Sign up", f"/accounts/signup/?{urlencode({'next': back})}")]
    assert doc.xpath("//input[@name='agree']") == []
    response = client.post("/studios/northside/book", slot_params(priced, agree="on"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Hold.objects.count() == 0


@pytest.mark.parametrize("start", ["soon", "2026-11-24T17:00:00"])  # a time must say its zone
def test_a_bad_start_in_the_drawer_is_422(client, world, start):
    response = client.get(f"/studios/northside/book?{urlencode(slot_params(world, start=start))}",
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert text(parse(response).xpath("//*[@id='drawer-error']/p")[0]).startswith(
        "Pick a start time on the availability strip")


def test_another_studios_room_is_refused_in_the_drawer(client, world, make_studio):
    elsewhere = make_studio(slug="elsewhere", name="Elsewhere")
    theirs = Room.objects.create(studio=elsewhere, name="Their room", tags=["tracking"])
    client.force_login(world["artist"])
    response = client.post("/studios/northside/book",
                           slot_params(world, room=theirs.id, agree="on"))
    assert response.status_code == 422
    assert "That room is not one of this studio's." in text(parse(response).xpath(
        "//*[@id='drawer-error']")[0])
    assert Hold.objects.count() == 0


def test_holding_without_ticking_the_policy_box_is_422_and_writes_nothing(client, world):
    client.force_login(world["artist"])
    response = client.post("/studios/northside/book", slot_params(world),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    doc = parse(response)
    assert field_errors(doc, "id_agree") == [
        "Tick the box to agree to the policy before you hold this slot."]
    assert quote_rows(doc)[0] == ("Recording, 2 h", "CAD 120.00")  # the drawer is intact
    assert Hold.objects.count() == 0


def test_holding_places_a_hold_and_goes_to_it(client, world):
    client.force_login(world["artist"])
    response = client.post("/studios/northside/book", slot_params(world, agree="on"))
    hold = Hold.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/holds/{hold.token}"
    assert (hold.user, hold.room, hold.service, hold.start_at, hold.end_at, hold.expires_at,
            hold.status) == (world["artist"], world["room"], world["service"],
                             utc(2026, 11, 24, 17), utc(2026, 11, 24, 19),
                             NOW + timedelta(minutes=10), "active")

    # htmx asks the browser to load the hold page rather than swapping it into the drawer.
    again = client.post("/studios/northside/book",
                        slot_params(world, start="2026-11-24T15:00:00Z", duration=60,
                                    agree="on"), HTTP_HX_REQUEST="true")
    newest = Hold.objects.latest("id")
    assert (again.status_code, again["HX-Redirect"]) == (200, f"/holds/{newest.token}")


def test_a_slot_taken_meanwhile_is_409_and_holds_nothing(client, world, make_user):
    services.place_hold(actor=make_user(), studio=world["studio"], service=world["service"],
                        start_at=utc(2026, 11, 24, 17), duration_minutes=60,
                        room_id=world["room"].id)
    client.force_login(world["artist"])
    response = client.post("/studios/northside/book", slot_params(world, agree="on"),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    doc = parse(response)
    assert [text(p) for p in doc.xpath("//*[@id='drawer-error']/p")][0] == (
        "Someone else has just taken this slot. Pick another time on the strip.")
    assert Hold.objects.count() == 1  # only the other artist's


def test_the_hold_limit_is_409(client, world):
    world["studio"].max_active_holds = 1
    world["studio"].save()
    client.force_login(world["artist"])
    client.post("/studios/northside/book", slot_params(world, agree="on"))
    response = client.post("/studios/northside/book",
                           slot_params(world, start="2026-11-24T15:00:00Z", duration=60,
                                       agree="on"))
    assert response.status_code == 409
    assert text(parse(response).xpath("//*[@id='drawer-error']/p")[0]).startswith(
        "you already hold 1 slots at Northside Sound")
    assert Hold.objects.count() == 1


def test_a_duration_the_service_does_not_allow_is_422_in_the_drawer(client, world):
    response = client.get(f"/studios/northside/book?{urlencode(slot_params(world, duration=90))}",
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert text(parse(response).xpath("//*[@id='drawer-error']/p")[0]) == (
        "The duration must be a multiple of 60 minutes")


def test_extras_picked_in_the_drawer_are_priced_held_and_booked(client, world, make_service):
    tape = make_service(name="Tape transfer", is_add_on=True, price_unit="session",
                        base_price_minor=2500)
    client.force_login(world["artist"])
    doc = parse(client.get(
        f"/studios/northside/book?{urlencode(slot_params(world, **{f'add_on_{tape.id}': 2}))}",
        HTTP_HX_REQUEST="true"))
    box = doc.xpath(f"//input[@name='add_on_{tape.id}']")[0]
    assert text(doc.xpath(f"//label[@for='{box.get('id')}']")[0]) == "Tape transfer (quantity)"
    assert (box.get("hx-target"), box.get("hx-select")) == ("#drawer-quote", "#drawer-quote")
    assert quote_rows(doc)[:3] == [("Recording, 2 h", "CAD 120.00"),
                                   ("Tape transfer × 2", "CAD 50.00"),
                                   ("Subtotal", "CAD 170.00")]

    client.post("/studios/northside/book",
                slot_params(world, agree="on", **{f"add_on_{tape.id}": 2}))
    hold = Hold.objects.get()
    assert quote_rows(parse(client.get(f"/holds/{hold.token}")))[-1] == ("Total", "CAD 170.00")
    client.post(f"/holds/{hold.token}")
    booking = Booking.objects.get(hold=hold)
    assert booking.total_minor == 17000
    assert sorted((i.description, i.quantity, i.total_minor)
                  for i in booking.line_items.all()) == [
        ("Recording, 2 h", 1, 12000), ("Tape transfer", 2, 5000)]


# --- the hold ------------------------------------------------------------------------------------

@pytest.fixture
def held(client, world):
    client.force_login(world["artist"])
    client.post("/studios/northside/book", slot_params(world, agree="on"))
    return Hold.objects.get()


def test_the_hold_page_counts_down_and_confirming_books_it(client, world, held):
    doc = parse(client.get(f"/holds/{held.token}"))
    timer = doc.xpath("//*[@role='timer']")[0]
    assert (timer.get("aria-live"), timer.get("data-remaining-seconds"), text(timer)) == (
        "off", "600", "10 minutes")
    assert doc.xpath("//*[@id='hold-announcer']/@aria-live") == ["polite"]
    assert text(doc.xpath("//*[@id='pay-heading']/following-sibling::p[1]")[0]) == (
        "Pay at the studio or by invoice; the studio records your payment.")
    assert [text(b) for b in doc.xpath("//button[@type='submit']")][-2:] == [
        "Confirm booking", "Release"]

    with time_machine.travel(NOW + timedelta(minutes=4, seconds=30), tick=False):
        doc = parse(client.get(f"/holds/{held.token}"))
        assert text(doc.xpath("//*[@role='timer']")[0]) == "6 minutes"
        response = client.post(f"/holds/{held.token}")
    booking = Booking.objects.get(hold=held)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:booking", args=[booking.code])
    assert (booking.status, booking.user, booking.start_at, booking.total_minor) == (
        "awaiting_approval", world["artist"], utc(2026, 11, 24, 17), 12000)
    held.refresh_from_db()
    assert held.status == "converted"
    assert Payment.objects.filter(booking=booking, gateway="offline").count() == 1
    doc = parse(client.get(f"/holds/{held.token}"))
    assert doc.xpath("//a[contains(@href, '/me/bookings/')]/@href") == [
        f"/me/bookings/{booking.code}"]


def test_the_hold_page_tells_a_first_timer_what_the_first_booking_rule_asks(client, world,
                                                                            held):
    world["service"].requires_approval = False
    world["service"].save()
    studio = world["studio"]

    def notes() -> list[str]:
        doc = parse(client.get(f"/holds/{held.token}"))
        return [text(p) for p in doc.xpath("//section[@aria-labelledby='pay-heading']/p")]

    paying = "Pay at the studio or by invoice; the studio records your payment."
    release = "Release gives the slot back at once, for anyone to book."
    assert notes() == [paying, release]
    studio.first_booking_rule = "deposit"
    studio.save()
    assert notes() == [paying, "As your first booking at Northside Sound, it shows “Awaiting "
                               "approval” until the studio records your payment: that confirms "
                               "it at once.", release]
    studio.first_booking_rule = "approval"
    studio.save()
    assert notes() == [paying, "This booking needs the studio's approval: it shows “Awaiting "
                               "approval” until they answer, and we email you within 48 hours.",
                       release]


def test_someone_elses_hold_is_404_and_a_guest_must_sign_in(client, world, held, make_user):
    client.force_login(make_user())
    assert client.get(f"/holds/{held.token}").status_code == 404
    assert client.post(f"/holds/{held.token}").status_code == 404
    assert client.post(f"/holds/{held.token}/release").status_code == 404
    assert Booking.objects.filter(hold=held).count() == 0
    client.logout()
    response = client.get(f"/holds/{held.token}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_expired_hold_says_so_and_cannot_be_booked(client, world, held):
    with time_machine.travel(NOW + timedelta(minutes=11), tick=False):
        doc = parse(client.get(f"/holds/{held.token}"))
        assert text(doc.xpath("//h1")[0]) == "This hold has expired"
        assert doc.xpath("//div[@class='empty']//a/@href") == [
            f"/studios/northside/availability?date={DAY}&service={world['service'].id}"
            f"&duration=120&room={world['room'].id}"]
        assert doc.xpath("//*[@role='timer']") == []
        response = client.post(f"/holds/{held.token}")
    assert response.status_code == 409
    assert Booking.objects.filter(hold=held).count() == 0


def test_releasing_a_hold_frees_it_and_returns_to_availability(client, world, held):
    response = client.post(f"/holds/{held.token}/release")
    assert response.status_code == 302
    assert response["Location"] == (f"/studios/northside/availability?date={DAY}&service="
                                    f"{world['service'].id}&duration=120")
    held.refresh_from_db()
    assert held.status == "released"
    assert text(parse(client.get(f"/holds/{held.token}")).xpath("//h1")[0]) == (
        "This hold was released")


# --- paying by card ------------------------------------------------------------------------------

class FakeStripe:
    """Answers like Stripe for the calls a checkout makes, with no network."""

    name = "stripe"

    def create_customer(self, *, email, name, idempotency_key):
        return "cus_test"

    def create_payment_intent(self, *, amount, currency, capture_method, customer,
                              save_payment_method, metadata, idempotency_key):
        return IntentResult(
            id="pi_test", object="payment_intent", status="requires_payment_method",
            amount=amount, amount_capturable=0, amount_received=0, currency=currency,
            capture_method=capture_method, client_secret="pi_test_secret_abc",
            customer=customer, payment_method=None, latest_charge=None, capture_before=None,
            next_action_url=None, last_error_code=None)


def test_with_stripe_the_hold_continues_to_the_payment_element(client, world, held, settings,
                                                               make_user):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_123"
    payments.use_gateway(FakeStripe())
    doc = parse(client.get(f"/holds/{held.token}"))
    assert [text(b) for b in doc.xpath("//button[@id='confirm-booking']")] == [
        "Continue to payment"]
    response = client.post(f"/holds/{held.token}")
    booking = Booking.objects.get(hold=held)
    assert response["Location"] == f"/bookings/{booking.code}/pay"

    doc = parse(client.get(f"/bookings/{booking.code}/pay"))
    assert doc.xpath("//script[starts-with(@src, 'https://')]/@src") == [
        "https://js.stripe.com/v3"]
    form = doc.xpath("//form[@id='payment-form']")[0]
    assert (form.get("data-publishable-key"), form.get("data-client-secret"),
            form.get("data-return-url"), form.get("data-mode")) == (
        "pk_test_123", "pi_test_secret_abc",
        f"http://testserver/me/bookings/{booking.code}", "payment")
    client.force_login(make_user())
    assert client.get(f"/bookings/{booking.code}/pay").status_code == 404


def test_without_stripe_the_pay_page_goes_to_the_booking(client, world, held):
    client.post(f"/holds/{held.token}")
    booking = Booking.objects.get(hold=held)
    doc = client.get(f"/bookings/{booking.code}/pay")
    assert (doc.status_code, doc["Location"]) == (302, f"/me/bookings/{booking.code}")


# --- policies ------------------------------------------------------------------------------------

def test_the_policies_page_says_the_rules_in_words(client, world):
    studio = world["studio"]
    studio.cancellation_policy = {"kind": "cancellation", "version": 1, "tiers": [
        {"min_hours_before": 72, "refund_percent": 100},
        {"min_hours_before": 24, "refund_percent": 50}]}
    studio.lead_time_minutes = 120
    studio.save()
    world["service"].deposit_percent = 50
    world["service"].save()
    doc = parse(client.get("/studios/northside/policies"))
    lists = [[text(li) for li in ul.xpath("./li")]
             for ul in doc.xpath("//ul[@class='policy-list']")]
    assert lists[0] == [
        "Cancel at least 72 hours before the start: a full refund.",
        "Cancel 24 to 72 hours before the start: a 50% refund.",
        "Cancel less than 24 hours before the start: no refund."]
    assert lists[2] == [
        "When you pick a time, we hold it for you for 10 minutes while you confirm.",
        "Book at least 2 hours before the session starts.",
        "You can book up to 365 days ahead.",
        "These services need the studio's approval (answer within 48 hours): Recording. "
        "Others are confirmed at once."]
    assert lists[3] == ["Recording: a 50% deposit when you book; the balance is due 48 hours "
                        "before the session."]


def test_a_fee_stored_out_of_range_is_named_on_the_drawer_and_the_hold_not_a_500(
        client, world, held):
    """A percentage fee saved before the limits (15000 bp = 150 %): the drawer and the hold
    page name it (409), and confirming books nothing."""
    Fee.objects.create(studio=world["studio"], name="Booking fee", kind="percent", amount=15000)
    response = client.get(f"/holds/{held.token}")
    assert response.status_code == 409
    doc = parse(response)
    assert text(doc.xpath("//h1")[0]) == "This slot cannot be priced now"
    assert text(doc.xpath("//*[@id='hold-error']")[0]).startswith(
        "the fee “Booking fee” of Northside Sound cannot be priced")
    assert client.post(f"/holds/{held.token}").status_code == 409
    assert Booking.objects.filter(hold=held).count() == 0
    response = client.get(f"/studios/northside/book?{urlencode(slot_params(world))}",
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "the fee “Booking fee” of Northside Sound cannot be priced" in text(parse(response))
