"""The 24-hour reminder: a periodic job, once per booking and start time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from studiobook import jobs
from studiobook.bookings import services as bookings
from studiobook.notify import services, tasks
from studiobook.notify.models import Notification
from tests.notify.conftest import START
from tests.support.factories import NOW


@pytest.fixture
def confirmed(world, book):
    """A booking of the service that needs no approval: confirmed at once, at START."""
    booking = book(service=world["instant"], minutes=120)
    assert booking.status == "confirmed"
    mail.outbox.clear()
    return booking


def run_reminders(at, django_capture_on_commit_callbacks) -> int:
    with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
        return services.send_due_reminders()


def reminders(booking) -> list[tuple]:
    return list(Notification.objects.filter(booking=booking, template="reminder").order_by(
        "id").values_list("channel", "status", "key"))


def test_the_reminder_job_is_registered_every_five_minutes():
    periodic = jobs.PERIODIC["notify.send_due_reminders"]
    assert (periodic.every_seconds, periodic.function) == (300, services.send_due_reminders)


def test_one_reminder_24_hours_before(confirmed, django_capture_on_commit_callbacks):
    assert run_reminders(START - timedelta(hours=24, minutes=5),
                         django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []

    assert run_reminders(START - timedelta(hours=23, minutes=58),
                         django_capture_on_commit_callbacks) == 2
    key = f"{confirmed.id}:reminder:email:20261128T150000Z"
    assert reminders(confirmed) == [
        ("email", "sent", key), ("sms", "skipped", f"{confirmed.id}:reminder:sms:20261128T150000Z")]
    (message,) = mail.outbox
    assert message.subject == ("Reminder: your session at Northside Sound, Saturday 28 "
                               "November 2026 at 10:00")
    assert "Time: 10:00–12:00 (America/Toronto)" in message.body

    # Every later run (and a second worker running the same job) sends nothing more.
    for minutes in (5, 10, 600):
        assert run_reminders(START - timedelta(hours=23, minutes=58) + timedelta(
            minutes=minutes), django_capture_on_commit_callbacks) == 0
    assert len(mail.outbox) == 1


def test_a_rescheduled_booking_gets_a_reminder_for_its_new_time(
        world, confirmed, committed, django_capture_on_commit_callbacks):
    run_reminders(START - timedelta(hours=23), django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    new_start = START + timedelta(days=2)
    with time_machine.travel(START - timedelta(hours=22), tick=False):
        committed(bookings.reschedule_booking, actor=world["admin"], booking=confirmed,
                  start_at=new_start, now=START - timedelta(hours=22))
    assert [m.subject for m in mail.outbox[1:]] == [
        f"Booking {confirmed.code} moved to Monday 30 November 2026, 10:00"]

    assert run_reminders(START - timedelta(hours=21), django_capture_on_commit_callbacks) == 0
    assert run_reminders(new_start - timedelta(hours=23),
                         django_capture_on_commit_callbacks) == 2
    assert [r[2] for r in reminders(confirmed) if r[0] == "email"] == [
        f"{confirmed.id}:reminder:email:20261128T150000Z",
        f"{confirmed.id}:reminder:email:20261130T150000Z"]
    assert mail.outbox[-1].subject == ("Reminder: your session at Northside Sound, Monday 30 "
                                       "November 2026 at 10:00")


def test_a_reminder_queued_before_a_move_is_skipped(world, confirmed, committed, settings,
                                                    django_capture_on_commit_callbacks):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    run_reminders(START - timedelta(hours=23), django_capture_on_commit_callbacks)
    committed(bookings.reschedule_booking, actor=world["admin"], booking=confirmed,
              start_at=START + timedelta(days=2), now=NOW)
    queued = Notification.objects.get(booking=confirmed, template="reminder", channel="email")
    assert tasks.deliver.call(queued.id) == "skipped"
    queued.refresh_from_db()
    assert queued.error == "the booking has moved since this message was queued"


def test_canceled_and_unapproved_bookings_get_no_reminder(world, book, confirmed, committed,
                                                          django_capture_on_commit_callbacks):
    pending = book(start=START + timedelta(hours=3))
    assert pending.status == "awaiting_approval"
    committed(bookings.cancel_booking, actor=world["admin"], booking=confirmed, now=NOW)
    mail.outbox.clear()
    assert run_reminders(START - timedelta(hours=20), django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []
