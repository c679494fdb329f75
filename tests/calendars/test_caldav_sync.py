"""CalDAV push against a real Radicale server on 127.0.0.1: create, move, reassign, cancel,
failures with backoff, idempotent retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar

from studiobook import jobs
from studiobook.bookings import services
from studiobook.bookings.models import Booking
from studiobook.calendars import caldav_sync
from studiobook.calendars.models import CalDAVAccount, CalendarSync
from studiobook.calendars.services import connect_caldav_account, resync_booking
from studiobook.studios.errors import Forbidden, InvalidInput
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

START = utc(2026, 11, 24, 15, 0)  # Tuesday 10:00 in Toronto


@pytest.fixture
def calendars(radicale):
    """A "sessions" calendar for Eve and one for Sam on the Radicale server; their URLs."""
    urls = {}
    for name in ("eve", "sam"):
        with radicale.client(name) as client:
            calendar = client.principal().make_calendar(name="Sessions", cal_id="sessions")
            urls[name] = str(calendar.url)
    return urls


def connect(world, radicale, calendars, name: str, *, password: str | None = None):
    staff = getattr(world, name)
    return CalDAVAccount.objects.create(
        staff=staff, url=radicale.url, username=name,
        password=password or radicale.users[name], calendar_url=calendars[name])


def remote_events(radicale, calendars, name: str) -> dict[str, Calendar]:
    """href -> parsed data of every event in that user's calendar, read over CalDAV."""
    with radicale.client(name) as client:
        calendar = client.calendar(url=calendars[name])
        return {str(e.url): Calendar.from_ical(e.data) for e in calendar.events()}


def only_remote_event(radicale, calendars, name: str):
    events = remote_events(radicale, calendars, name)
    assert len(events) == 1, events
    (href, cal), = events.items()
    vevents = list(cal.walk("VEVENT"))
    assert len(vevents) == 1
    return href, cal, vevents[0]


def book(world, *, staff=None, start=START):
    return services.create_booking(
        actor=world.artist, studio=world.studio, service=world.recording, start_at=start,
        duration_minutes=120, room_id=world.room_a.id, staff_ids=[(staff or world.eve).id],
        now=NOW)


def sync_tasks(backend) -> list:
    """What the calendars app enqueued (other apps' handlers enqueue their own tasks)."""
    return [r for r in backend.results if r.task.name == "sync_booking"]


def sync_row(booking, staff) -> CalendarSync:
    return CalendarSync.objects.get(booking=booking, staff=staff)


def test_a_booking_is_created_moved_and_deleted_in_the_engineers_calendar(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks):
    connect(world, radicale, calendars, "eve")

    with django_capture_on_commit_callbacks(execute=True):
        booking = book(world)

    href, cal, event = only_remote_event(radicale, calendars, "eve")
    assert event["UID"] == f"{booking.code}@studiobook"
    assert (event.start, event.end, event["SEQUENCE"]) == (START, START + timedelta(hours=2), 0)
    assert (event["STATUS"], event["SUMMARY"]) == ("CONFIRMED", "Recording: Ari Artist")
    assert "METHOD" not in cal
    assert "ORGANIZER" not in event and "ATTENDEE" not in event
    assert list(cal.walk("VTIMEZONE")) == []  # UTC instants only (calendars/ics.py)
    row = sync_row(booking, world.eve)
    assert (row.status, row.href, row.synced_sequence, row.attempts, row.error) == (
        "synced", href, 0, 0, "")

    moved = START + timedelta(days=1, hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.reschedule_booking(actor=world.admin, booking=booking, start_at=moved,
                                    now=NOW)

    new_href, _, event = only_remote_event(radicale, calendars, "eve")
    assert new_href == href
    assert (event.start, event.end, event["SEQUENCE"]) == (moved, moved + timedelta(hours=2), 1)
    assert (sync_row(booking, world.eve).status, sync_row(booking, world.eve).synced_sequence
            ) == ("synced", 1)

    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_booking(actor=world.artist, booking=booking, now=NOW)

    assert remote_events(radicale, calendars, "eve") == {}
    row = sync_row(booking, world.eve)
    assert (row.status, row.href, row.error) == ("deleted", href, "")
    assert Booking.objects.get(pk=booking.pk).status == "canceled"


def test_reassigning_moves_the_event_to_the_new_engineers_calendar(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks):
    connect(world, radicale, calendars, "eve")
    connect(world, radicale, calendars, "sam")
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(world)
    assert len(remote_events(radicale, calendars, "eve")) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.assign_staff(actor=world.admin, booking=booking, staff_ids=[world.sam.id],
                              now=NOW)

    assert remote_events(radicale, calendars, "eve") == {}
    _, _, event = only_remote_event(radicale, calendars, "sam")
    assert (event["UID"], event["SEQUENCE"]) == (f"{booking.code}@studiobook", 1)
    assert (sync_row(booking, world.eve).status, sync_row(booking, world.sam).status) == (
        "deleted", "synced")


def test_running_the_sync_again_is_harmless(world, radicale, calendars):
    connect(world, radicale, calendars, "eve")
    booking = book(world)

    first = caldav_sync.sync_booking_now(booking.id, now=NOW)
    second = caldav_sync.sync_booking_now(booking.id, now=NOW)
    CalendarSync.objects.update(status="pending")  # as if the row were lost mid-way
    third = caldav_sync.sync_booking_now(booking.id, now=NOW)

    assert (first["synced"], second["unchanged"], third["synced"]) == (1, 1, 1)
    assert len(remote_events(radicale, calendars, "eve")) == 1


def test_a_failing_server_is_recorded_and_retried_with_backoff(
        world, radicale, calendars, dummy_tasks):
    account = connect(world, radicale, calendars, "eve", password="wrong")
    booking = book(world)

    counts = caldav_sync.sync_booking_now(booking.id, now=NOW)

    assert counts == {"synced": 0, "deleted": 0, "failed": 1, "unchanged": 0}
    row = sync_row(booking, world.eve)
    assert (row.status, row.attempts, row.last_attempt_at) == ("failed", 1, NOW)
    assert "Authorization" in row.error or "401" in row.error
    [retry] = sync_tasks(dummy_tasks)
    assert retry.task.name == "sync_booking"
    assert (retry.args, retry.kwargs) == ([booking.id, 2], {})
    assert retry.task.run_after == row.next_attempt_at
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"
    assert remote_events(radicale, calendars, "eve") == {}

    account.password = radicale.users["eve"]
    account.save()
    counts = caldav_sync.sync_booking_now(booking.id, attempt=2, now=NOW)

    assert counts["synced"] == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error, row.next_attempt_at) == ("synced", 0, "", None)
    assert len(remote_events(radicale, calendars, "eve")) == 1
    assert len(sync_tasks(dummy_tasks)) == 1


def test_it_gives_up_after_the_last_attempt(world, radicale, calendars, dummy_tasks):
    connect(world, radicale, calendars, "eve", password="wrong")
    booking = book(world)

    caldav_sync.sync_booking_now(booking.id, attempt=jobs.MAX_ATTEMPTS, now=NOW)

    row = sync_row(booking, world.eve)
    assert row.status == "failed"
    assert row.error.startswith(f"gave up after {jobs.MAX_ATTEMPTS} attempts: ")
    assert row.next_attempt_at is None
    assert sync_tasks(dummy_tasks) == []


def test_an_unreachable_server_fails_the_same_way(world, radicale, calendars, dummy_tasks):
    account = connect(world, radicale, calendars, "eve")
    account.calendar_url = account.url = "http://127.0.0.1:9/eve/sessions/"  # discard port
    account.save()
    booking = book(world)

    caldav_sync.sync_booking_now(booking.id, now=NOW)

    row = sync_row(booking, world.eve)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error
    assert len(sync_tasks(dummy_tasks)) == 1


def test_bookings_of_engineers_without_a_calendar_enqueue_nothing(
        world, radicale, calendars, dummy_tasks, django_capture_on_commit_callbacks):
    connect(world, radicale, calendars, "eve")
    with django_capture_on_commit_callbacks(execute=True):
        book(world, staff=world.sam)
    assert sync_tasks(dummy_tasks) == []
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(world, start=START + timedelta(hours=4))
    assert [(r.task.name, r.args) for r in sync_tasks(dummy_tasks)] == [
        ("sync_booking", [booking.id])]


def test_connecting_discovers_the_calendar_and_pushes_upcoming_sessions(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks):
    booking = book(world)
    with pytest.raises(Forbidden):
        connect_caldav_account(actor=world.sam.user, staff=world.eve, url=radicale.url,
                               username="eve", password=radicale.users["eve"])
    with pytest.raises(InvalidInput, match="cannot reach the CalDAV account"):
        connect_caldav_account(actor=world.eve.user, staff=world.eve, url=radicale.url,
                               username="eve", password="wrong")
    assert not CalDAVAccount.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        account = connect_caldav_account(actor=world.eve.user, staff=world.eve,
                                         url=radicale.url, username="eve",
                                         password=radicale.users["eve"], now=NOW)

    assert account.calendar_url == calendars["eve"]
    _, _, event = only_remote_event(radicale, calendars, "eve")
    assert event["UID"] == f"{booking.code}@studiobook"
    audit = AuditLog.objects.get(action="calendar.caldav_connect")
    assert "password" not in str(audit.diff) and radicale.users["eve"] not in str(audit.diff)


def test_an_admin_can_retry_a_failed_sync(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks):
    account = connect(world, radicale, calendars, "eve", password="wrong")
    booking = book(world)
    caldav_sync.sync_booking_now(booking.id, attempt=jobs.MAX_ATTEMPTS, now=NOW)
    assert sync_row(booking, world.eve).status == "failed"
    account.password = radicale.users["eve"]
    account.save()

    with pytest.raises(Forbidden):
        resync_booking(actor=world.eve.user, booking=booking)
    with django_capture_on_commit_callbacks(execute=True):
        resync_booking(actor=world.admin, booking=booking)

    assert sync_row(booking, world.eve).status == "synced"
    assert len(remote_events(radicale, calendars, "eve")) == 1


def test_a_no_show_leaves_the_calendar_and_a_completed_session_stays(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks):
    connect(world, radicale, calendars, "eve")
    with django_capture_on_commit_callbacks(execute=True):
        missed = book(world)
        done = book(world, start=START + timedelta(hours=4))
    assert len(remote_events(radicale, calendars, "eve")) == 2

    with django_capture_on_commit_callbacks(execute=True):
        # Both only once their sessions have started (issue 9).
        services.mark_no_show(actor=world.admin, booking=missed, now=START + timedelta(hours=4))
        services.complete_booking(actor=world.admin, booking=done,
                                  now=START + timedelta(hours=4))

    _, _, event = only_remote_event(radicale, calendars, "eve")
    assert event["UID"] == f"{done.code}@studiobook"
    assert (sync_row(missed, world.eve).status, sync_row(done, world.eve).status) == (
        "deleted", "synced")


def test_killed_at_the_commit_the_push_is_requested_and_the_sweep_does_it_once(
        world, radicale, calendars, immediate_tasks, django_capture_on_commit_callbacks,
        settings):
    """Nothing after the booking's commit ran (issue 9 section 3): its CalendarSync row was
    written in the booking's transaction, marked requested; the sweep pushes it once."""
    import time_machine

    settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS = 60
    connect(world, radicale, calendars, "eve")
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=False):
            booking = book(world)
        row = sync_row(booking, world.eve)
        assert (row.status, row.requested_at, row.href) == ("pending", NOW, "")
        assert caldav_sync.recover_calendar_syncs(now=NOW + timedelta(seconds=30)) == 0
    assert remote_events(radicale, calendars, "eve") == {}

    assert caldav_sync.recover_calendar_syncs(now=NOW + timedelta(seconds=61)) == 1
    href, _, event = only_remote_event(radicale, calendars, "eve")
    assert event["UID"] == f"{booking.code}@studiobook"
    row = sync_row(booking, world.eve)
    assert (row.status, row.href, row.requested_at) == ("synced", href, None)
    assert caldav_sync.recover_calendar_syncs(now=NOW + timedelta(hours=1)) == 0


def test_an_overdue_calendar_retry_is_enqueued_again(world, radicale, calendars, dummy_tasks,
                                                     settings):
    settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS = 60
    connect(world, radicale, calendars, "eve")
    booking = book(world)
    CalendarSync.objects.filter(booking=booking).update(
        status="failed", attempts=2, requested_at=None, next_attempt_at=NOW)
    before = len(sync_tasks(dummy_tasks))
    assert caldav_sync.recover_calendar_syncs(now=NOW + timedelta(seconds=59)) == 0
    assert caldav_sync.recover_calendar_syncs(now=NOW + timedelta(seconds=61)) == 1
    [task] = sync_tasks(dummy_tasks)[before:]
    assert task.args == [booking.id, 3]
    assert sync_row(booking, world.eve).next_attempt_at == NOW + timedelta(seconds=61)
