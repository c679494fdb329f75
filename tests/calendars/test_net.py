"""CalDAV requests pass the same guard as ICS fetches (calendars/net.py): no private or
loopback addresses unless allowed, no redirect to one, size and time limits, and errors as
sentences instead of library text. The test servers are on 127.0.0.1, which the guard
refuses, so tests that need a "public" server make 127.0.0.1 pass the check as if it were
a public address while every other name (``localhost``) resolves for real."""

from __future__ import annotations

import ipaddress

import pytest

from studiobook.bookings import services as booking_services
from studiobook.calendars import caldav_sync, external, net
from studiobook.calendars.models import CalDAVAccount, CalendarSync, ExternalCalendar
from studiobook.calendars.services import connect_caldav_account
from studiobook.studios.errors import InvalidInput
from tests.calendars.servers import Route
from tests.support.factories import NOW, utc

START = utc(2026, 11, 24, 15, 0)  # Tuesday 10:00 in Toronto
REFUSED = ("127.0.0.1 resolves to a non-public address (127.0.0.1); set "
           "STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS to allow it")


@pytest.fixture(autouse=True)
def clock(frozen_clock):
    return frozen_clock


@pytest.fixture
def private_refused(settings):
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = False
    return settings


@pytest.fixture
def loopback_looks_public(private_refused, monkeypatch):
    real = net.resolve
    monkeypatch.setattr(net, "resolve", lambda host, port: (
        [ipaddress.ip_address("8.8.8.8")] if host == "127.0.0.1" else real(host, port)))


@pytest.fixture
def sessions(radicale):
    with radicale.client("eve") as client:
        calendar = client.principal().make_calendar(name="Sessions", cal_id="sessions")
        return str(calendar.url)


def remote_count(radicale, url: str) -> int:
    with radicale.client("eve") as client:
        return len(client.calendar(url=url).events())


def book(world):
    return booking_services.create_booking(
        actor=world.artist, studio=world.studio, service=world.recording, start_at=START,
        duration_minutes=120, room_id=world.room_a.id, staff_ids=[world.eve.id], now=NOW)


def caldav_source(world, url: str, **kwargs) -> ExternalCalendar:
    return ExternalCalendar.objects.create(studio=world.studio, staff=world.eve, kind="caldav",
                                           url=url, username="eve", **kwargs)


def test_a_caldav_url_on_a_private_address_is_refused_with_a_clear_message(
        world, radicale, sessions, private_refused, dummy_tasks):
    with pytest.raises(InvalidInput) as refused:
        connect_caldav_account(actor=world.eve.user, staff=world.eve, url=radicale.url,
                               username="eve", password=radicale.users["eve"])
    assert (str(refused.value), refused.value.field) == (REFUSED, "url")
    assert CalDAVAccount.objects.count() == 0

    CalDAVAccount.objects.create(staff=world.eve, url=radicale.url, username="eve",
                                 password=radicale.users["eve"], calendar_url=sessions)
    booking = book(world)
    counts = caldav_sync.sync_booking_now(booking.id, now=NOW)
    row = CalendarSync.objects.get(booking=booking)
    assert counts["failed"] == 1
    assert (row.status, row.error) == ("failed", REFUSED)
    assert remote_count(radicale, sessions) == 0

    source = external.refresh(caldav_source(world, sessions,
                                            password=radicale.users["eve"]), now=NOW)
    assert (source.status, source.last_error) == ("failing", REFUSED)


def test_a_caldav_redirect_to_a_private_address_is_refused(
        world, ics_files, loopback_looks_public, dummy_tasks):
    private = ics_files.url("/private/").replace("127.0.0.1", "localhost")
    ics_files.routes["/dav/*"] = Route(b"", status=307, headers={"Location": private})
    ics_files.routes["/private/*"] = Route(b"<secret/>", content_type="application/xml")
    localhost = sorted({str(a) for a in net.resolve("localhost", 80)})

    source = external.refresh(caldav_source(world, ics_files.url("/dav/calendar/")), now=NOW)

    assert source.status == "failing"
    assert source.last_error in {
        f"localhost resolves to a non-public address ({address}); set "
        "STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS to allow it" for address in localhost}
    assert ics_files.hits.get("/private/") is None
    assert sum(hits for path, hits in ics_files.hits.items() if path.startswith("/dav/")) >= 1

    CalDAVAccount.objects.create(staff=world.eve, url=ics_files.url("/dav/"), username="eve",
                                 password="pw", calendar_url=ics_files.url("/dav/calendar/"))
    booking = book(world)
    caldav_sync.sync_booking_now(booking.id, now=NOW)
    row = CalendarSync.objects.get(booking=booking)
    assert row.status == "failed"
    assert row.error == source.last_error
    assert not any(path.startswith("/private/") for path in ics_files.hits)


def test_caldav_answers_are_size_limited(world, radicale, sessions, settings):
    with radicale.client("eve") as client:
        client.calendar(url=sessions).add_event(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            "UID:long@example.test\r\nDTSTAMP:20261101T000000Z\r\n"
            "DTSTART:20261124T150000Z\r\nDTEND:20261124T160000Z\r\n"
            f"DESCRIPTION:{'x' * 400}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    settings.STUDIOBOOK_CALENDARS_MAX_BYTES = 400
    source = external.refresh(caldav_source(world, sessions,
                                            password=radicale.users["eve"]), now=NOW)
    assert source.status == "failing"
    assert source.last_error == f"{radicale.url.rstrip('/')}/... is larger than 400 bytes"


def test_caldav_library_errors_reach_people_as_sentences(world, radicale, sessions,
                                                           dummy_tasks):
    CalDAVAccount.objects.create(staff=world.eve, url=radicale.url, username="eve",
                                 password="wrong", calendar_url=sessions)
    booking = book(world)
    caldav_sync.sync_booking_now(booking.id, now=NOW)
    row = CalendarSync.objects.get(booking=booking)
    assert row.error == (f"{radicale.url.rstrip('/')}/... refused the username or password "
                         "(HTTP 401/403): check the username and use an app-specific password")

    source = external.refresh(caldav_source(world, "http://127.0.0.1:9/eve/sessions/"),
                              now=NOW)
    assert source.last_error == ("cannot connect to http://127.0.0.1:9/...: check the "
                                 "address and that the server is up")
    with pytest.raises(InvalidInput) as unreachable:
        connect_caldav_account(actor=world.eve.user, staff=world.eve,
                               url="http://127.0.0.1:9/", username="eve", password="x")
    assert str(unreachable.value) == ("cannot reach the CalDAV account: cannot connect to "
                                      "http://127.0.0.1:9/...: check the address and that "
                                      "the server is up")
