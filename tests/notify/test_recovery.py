"""Nothing half-done after a crash: notifications (issue 9 section 3).

"Died between commit and enqueue" is simulated by an after-commit enqueue that raises a
BaseException (what kill -9 leaves undone is exactly what ran after the commit): the
Notification row committed with the booking; the sweep delivers it, once. A worker that
died mid-send leaves ``sending``: the sweep takes it over after the claim's lease, never
inside it; and the claim is one conditional UPDATE, so two deliveries of one row cannot both
send.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from studiobook import jobs
from studiobook.notify import services, tasks
from studiobook.notify.models import Notification
from tests.notify.conftest import START
from tests.support.factories import NOW


class ProcessKilled(BaseException):
    """Stands for kill -9 right after the commit."""


@pytest.fixture(autouse=True)
def locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS = 60
    settings.NOTIFY_CLAIM_LEASE_SECONDS = 300


def sweep(after: timedelta) -> int:
    with time_machine.travel(NOW + after, tick=False):
        return tasks.recover_notifications()


def test_died_between_commit_and_enqueue_is_delivered_once_by_the_sweep(world, book,
                                                                        monkeypatch):
    def killed_after_commit(task, *args, **kwargs):
        def die():
            raise ProcessKilled

        transaction.on_commit(die)

    monkeypatch.setattr(jobs, "enqueue_after_commit", killed_after_commit)
    with pytest.raises(ProcessKilled):
        book()
    monkeypatch.undo()
    [queued] = Notification.objects.filter(status="queued")
    assert (queued.template, queued.channel, queued.booking.status) == (
        "submitted", "email", "awaiting_approval")
    assert mail.outbox == []

    assert sweep(timedelta(seconds=30)) == 0  # within the grace period: left alone
    assert sweep(timedelta(seconds=61)) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("sent", 1)
    assert [m.extra_headers["X-Studiobook-Notification"] for m in mail.outbox] == [queued.key]
    assert sweep(timedelta(minutes=10)) == 0
    assert len(mail.outbox) == 1


def test_killed_at_the_commit_the_rows_are_there_and_the_sweep_sends_them(
        world, django_capture_on_commit_callbacks):
    """Nothing after the commit ran (not one on_commit callback): the notification and the
    outbox row committed with the booking all the same."""
    from studiobook.bookings import services as bookings
    from studiobook.live.models import AvailabilityChange

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        booking = bookings.create_booking(actor=world["artist"], studio=world["studio"],
                                          service=world["instant"], start_at=START,
                                          duration_minutes=120, now=NOW)
    assert callbacks  # what a live process would have run after the commit
    assert list(Notification.objects.values_list("template", "channel", "status")) == [
        ("approved", "email", "queued"), ("approved", "sms", "skipped")]
    assert AvailabilityChange.objects.filter(studio=world["studio"]).count() == 1
    assert booking.payments.count() == 1

    assert sweep(timedelta(seconds=61)) == 1
    assert Notification.objects.get(channel="email").status == "sent"
    assert len(mail.outbox) == 1


def test_a_sending_row_is_taken_over_only_after_its_lease(world, book, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    booking = book()
    settings.TASKS = {"default": {"BACKEND": "tests.notify.backends.ImmediateRecordingBackend"}}
    notification = Notification.objects.get(booking=booking, channel="email")
    Notification.objects.filter(pk=notification.pk).update(status="sending", claimed_at=NOW,
                                                           attempts=1)

    assert sweep(timedelta(seconds=299)) == 0
    with time_machine.travel(NOW + timedelta(seconds=299), tick=False):
        assert tasks.deliver.call(notification.id) == "sending"
    assert mail.outbox == []

    assert sweep(timedelta(seconds=301)) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1
    assert sweep(timedelta(minutes=30)) == 0
    assert len(mail.outbox) == 1


def test_two_deliveries_of_one_row_send_it_once(world, book, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    booking = book()
    notification = Notification.objects.get(booking=booking, channel="email")
    real_send = services.send
    concurrent = []

    def send_while_another_worker_tries(row):
        concurrent.append(tasks.deliver.call(row.id))  # the duplicate task, mid-send
        return real_send(row)

    monkeypatch.setattr(services, "send", send_while_another_worker_tries)
    assert tasks.deliver.call(notification.id) == "sent"
    assert concurrent == ["sending"]
    assert tasks.deliver.call(notification.id) == "sent"
    assert len(mail.outbox) == 1


def test_an_overdue_retry_is_enqueued_again(world, book, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    booking = book()
    settings.TASKS = {"default": {"BACKEND": "tests.notify.backends.ImmediateRecordingBackend"}}
    notification = Notification.objects.get(booking=booking, channel="email")
    # The first attempt failed and stored its retry time; the process died before enqueueing.
    Notification.objects.filter(pk=notification.pk).update(
        status="failed", attempts=1, error="SMTPServerDisconnected",
        next_attempt_at=NOW + timedelta(seconds=30))
    assert sweep(timedelta(seconds=60)) == 0  # not overdue by the grace period yet
    assert sweep(timedelta(seconds=91)) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


def test_a_permanent_failure_is_not_swept(world, book, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    booking = book()
    notification = Notification.objects.get(booking=booking, channel="email")
    Notification.objects.filter(pk=notification.pk).update(status="failed", attempts=1,
                                                           next_attempt_at=None)
    assert sweep(timedelta(hours=1)) == 0
    assert mail.outbox == []
