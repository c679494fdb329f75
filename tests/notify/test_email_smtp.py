"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): the submitted and approved
messages, their calendar invites, an SMTP failure and its retry."""

from __future__ import annotations

from datetime import timedelta

import icalendar

from studiobook import jobs
from studiobook.bookings import services as bookings
from studiobook.bookings.models import Booking
from studiobook.notify import tasks
from studiobook.notify.models import Notification
from studiobook.studios.models import AuditLog
from tests.notify import backends
from tests.notify.conftest import START, hours
from tests.support.factories import NOW
from tests.support.smtp import free_port

ADMIN = "/studios/northside/admin"


def bodies(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(),
            message.get_body(("html",)).get_content())


def invites(message) -> list:
    return [part for part in message.iter_attachments()
            if part.get_content_type() == "text/calendar"]


def parsed_invite(part) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def check_invite(part, booking: Booking, method: str, sequence: int) -> icalendar.Event:
    """The attached invite is the booking's: METHOD is the MIME part's method=, the UID is
    the booking's stable one, SEQUENCE is ``sequence``, the times are the booking's."""
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == method
    assert part.get_filename() == f"{booking.code}.ics"
    calendar, event = parsed_invite(part)
    assert str(calendar["METHOD"]) == part.get_param("method") == method
    assert str(event["UID"]) == f"{booking.code}@studiobook"
    assert int(event.get("SEQUENCE", 0)) == sequence
    assert event.decoded("DTSTART") == booking.start_at
    assert event.decoded("DTEND") == booking.end_at
    return event


def test_submitted_and_approved_emails_reach_the_smtp_server_with_the_invite(
        api, world, smtp_server, django_capture_on_commit_callbacks):
    payload = {"service_id": world["service"].id, "start_at": "2026-11-28T15:00:00Z",
               "duration_min": 240}
    with django_capture_on_commit_callbacks(execute=True):
        hold = api.post("/studios/northside/holds", payload, user=world["artist"])[1]
        status, body = api.post("/bookings", {"hold_id": hold["hold_id"]},
                                user=world["artist"])
    assert (status, body["status"]) == (201, "awaiting_approval")
    code = body["code"]
    with django_capture_on_commit_callbacks(execute=True):
        status, _ = api.post(f"{ADMIN}/bookings/{code}/approve", {}, user=world["admin"])
    assert status == 200

    assert [e.rcpt_tos for e in smtp_server.envelopes] == [["ari@example.test"]] * 2
    submitted, approved = smtp_server.messages
    assert submitted["Subject"] == f"Booking {code} received: awaiting approval"
    assert approved["Subject"] == f"Booking {code} confirmed: Saturday 28 November 2026, 10:00"
    for message in (submitted, approved):
        assert message["From"] == "Northside Sound <bookings@studiobook.test>"
        assert message["To"] == "ari@example.test"
        text, html = bodies(message)
        for expected in ("Hello Ari Artist,", f"Booking: {code}",
                         "Session: Lockout, Studio A", "Date: Saturday 28 November 2026",
                         "Time: 10:00–14:00 (America/Toronto)", "Total: CAD 271.20",
                         "Deposit: CAD 135.60", "Address: 12 Queen St W, Toronto",
                         "https://book.example.test/studios/northside/policies"):
            assert expected in text
        for expected in ("Ari Artist", code, "Studio A", "Saturday 28 November 2026",
                         "10:00–14:00", "CAD 271.20", "CAD 135.60", "12 Queen St W, Toronto",
                         'href="https://book.example.test/studios/northside/policies"'):
            assert expected in html
    assert invites(submitted) == []
    rows = Notification.objects.filter(booking__code=code, channel="email")
    assert list(rows.values_list("template", "status", "attempts", "recipient")) == [
        ("submitted", "sent", 1, "ari@example.test"),
        ("approved", "sent", 1, "ari@example.test")]
    assert rows.get(template="approved").provider_message_id == approved["Message-ID"]

    (part,) = invites(approved)
    check_invite(part, Booking.objects.get(code=code), "REQUEST", sequence=0)
    assert rows.get(template="approved").ics_method == "REQUEST"


def test_invites_follow_the_booking_approve_reschedule_cancel(
        world, book, committed, smtp_server):
    """REQUEST on approval; REQUEST with the same UID, a higher SEQUENCE and the new times on
    a reschedule; CANCEL on cancellation."""
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    booking, _ = committed(bookings.reschedule_booking, actor=world["admin"], booking=booking,
                           start_at=START.replace(day=29), now=NOW)
    committed(bookings.cancel_booking, actor=world["admin"], booking=booking,
              reason="studio flooded", now=NOW)
    booking.refresh_from_db()

    submitted, approved, rescheduled, canceled = smtp_server.messages
    assert invites(submitted) == []
    (approved_part,), (moved_part,) = invites(approved), invites(rescheduled)
    assert approved_part.get_param("method") == moved_part.get_param("method") == "REQUEST"
    first, moved = parsed_invite(approved_part)[1], parsed_invite(moved_part)[1]
    assert (first.decoded("DTSTART"), first.decoded("DTEND")) == (START, START + hours(4))
    assert moved.decoded("DTSTART") == booking.start_at == START.replace(day=29)
    assert moved.decoded("DTEND") == booking.end_at
    assert str(moved["UID"]) == str(first["UID"]) == f"{booking.code}@studiobook"
    assert (int(first.get("SEQUENCE", 0)), int(moved["SEQUENCE"])) == (0, 1)
    check_invite(invites(canceled)[0], booking, "CANCEL", sequence=2)
    text, _ = bodies(rescheduled)
    assert "Before: Saturday 28 November 2026, 10:00–14:00" in text
    assert "Now: Sunday 29 November 2026, 10:00–14:00" in text
    assert "The attached invite updates the event in your calendar." in text
    assert "Google Calendar: https://calendar.google.com/" in text
    text, _ = bodies(canceled)
    assert "Reason: studio flooded" in text
    assert "The attached update removes the session from your calendar." in text
    assert list(Notification.objects.filter(channel="email").values_list(
        "template", "ics_method")) == [("submitted", ""), ("approved", "REQUEST"),
                                       ("rescheduled", "REQUEST"), ("canceled", "CANCEL")]


def test_an_smtp_failure_is_recorded_retried_with_backoff_and_leaves_the_booking(
        world, book, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    audit_before = AuditLog.objects.count()

    booking = book()

    booking.refresh_from_db()
    assert booking.status == "awaiting_approval"
    assert AuditLog.objects.count() == audit_before + 1  # the booking's own, nothing undone
    notification = Notification.objects.get(booking=booking, channel="email")
    assert (notification.template, notification.status, notification.attempts) == (
        "submitted", "failed", 1)
    assert notification.error.startswith("ConnectionRefusedError: ")
    (retry,) = backends.DEFERRED
    assert (retry.task.func, retry.args) == (tasks.deliver.func, [notification.id, 2])
    # 30 s backoff for the first retry, plus up to 10 % jitter.
    assert NOW + timedelta(seconds=30) <= retry.task.run_after <= NOW + timedelta(seconds=33)
    assert notification.next_attempt_at == retry.task.run_after


def test_the_retry_sends_once_the_server_is_back(world, book, settings, smtp_server):
    port = smtp_server.port
    settings.EMAIL_PORT = free_port()  # nothing listens there
    booking = book()
    notification = Notification.objects.get(booking=booking, channel="email")
    assert notification.status == "failed"

    settings.EMAIL_PORT = port
    (retry,) = backends.DEFERRED
    assert tasks.deliver.call(*retry.args) == "sent"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.error) == ("sent", 2, "")
    assert notification.next_attempt_at is None
    assert len(smtp_server.envelopes) == 1
    # The retry task arriving twice (a duplicate delivery) sends nothing more.
    assert tasks.deliver.call(*retry.args) == "sent"
    assert len(smtp_server.envelopes) == 1


def test_retries_stop_after_the_last_attempt(world, book, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    booking = book()
    notification = Notification.objects.get(booking=booking, channel="email")
    for attempt in range(2, jobs.MAX_ATTEMPTS + 1):
        backends.DEFERRED.clear()
        assert tasks.deliver.call(notification.id, attempt) == "failed"
    assert backends.DEFERRED == []
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", jobs.MAX_ATTEMPTS)
    assert notification.next_attempt_at is None
