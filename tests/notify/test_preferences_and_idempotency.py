"""Per-user channel preferences, and sending each message once however often it is asked
for."""

from __future__ import annotations

import io

import pytest
from django.core import mail

from studiobook.bookings import events
from studiobook.bookings import services as bookings
from studiobook.notify import services, tasks
from studiobook.notify.channels import ConsoleSMS, use_sms_channel
from studiobook.notify.models import Notification, NotificationPreference
from studiobook.studios.errors import InvalidInput
from tests.support.factories import NOW


@pytest.fixture
def sms_outbox():
    stream = io.StringIO()
    use_sms_channel(ConsoleSMS(stream=stream))
    return stream


def rows(booking) -> list[tuple]:
    return list(Notification.objects.filter(booking=booking).order_by("id").values_list(
        "template", "channel", "status", "error"))


def test_defaults_email_on_sms_off(world, book, sms_outbox):
    booking = book()
    assert rows(booking) == [("submitted", "email", "sent", "")]
    assert len(mail.outbox) == 1
    assert sms_outbox.getvalue() == ""


def test_email_off_sends_nothing_and_records_skipped(world, book, committed, sms_outbox):
    NotificationPreference.objects.create(user=world["artist"], email=False, sms=True)
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)

    assert mail.outbox == []
    assert rows(booking) == [
        ("submitted", "email", "skipped", "email notifications are off in the preferences"),
        ("approved", "email", "skipped", "email notifications are off in the preferences"),
        ("approved", "sms", "sent", "")]
    assert "SMS to +14165550123" in sms_outbox.getvalue()


def test_sms_without_a_phone_number_is_skipped(world, book, committed, sms_outbox):
    world["artist"].phone = ""
    world["artist"].save()
    NotificationPreference.objects.create(user=world["artist"], sms=True)
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    assert rows(booking)[-1] == ("approved", "sms", "skipped", "no phone number for SMS")
    assert sms_outbox.getvalue() == ""


def test_the_same_event_twice_sends_once(world, book, committed,
                                         django_capture_on_commit_callbacks):
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    assert len(mail.outbox) == 2
    first = Notification.objects.get(booking=booking, template="approved", channel="email")

    # The event replayed, and the service asked again for the same message.
    with django_capture_on_commit_callbacks(execute=True):
        events.dispatch(events.Event("booking.confirmed", studio_id=booking.studio_id,
                                     booking_id=booking.id, data={"approved": True}))
        again = services.notify(template="approved", booking=booking, channel="email")

    assert again.pk == first.pk
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(booking=booking).count() == 3  # + approved sms, skipped


def test_resending_a_sent_notification_sends_nothing(world, book,
                                                     django_capture_on_commit_callbacks):
    booking = book()
    notification = Notification.objects.get(booking=booking)
    with django_capture_on_commit_callbacks(execute=True):
        services.resend(notification)
    assert tasks.deliver.call(notification.id) == "sent"
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_resending_a_failed_notification_sends_it(world, book, settings,
                                                  django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.notify.test_preferences_and_idempotency.BrokenBackend"
    booking = book()
    notification = Notification.objects.get(booking=booking)
    assert (notification.status, notification.error) == (
        "failed", "SMTPServerDisconnected: Connection unexpectedly closed")

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        services.resend(notification)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_a_message_the_booking_outgrew_is_skipped_at_delivery(world, book, settings,
                                                              committed):
    """Queued while the worker is down; the booking is canceled before it runs."""
    booking = book()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    committed(bookings.cancel_booking, actor=world["admin"], booking=booking, now=NOW)
    approved = Notification.objects.get(booking=booking, template="approved", channel="email")
    assert approved.status == "queued"

    assert tasks.deliver.call(approved.id) == "skipped"

    approved.refresh_from_db()
    assert approved.error == "the booking is now canceled"
    assert len(mail.outbox) == 1  # the submitted one only


def test_a_row_being_sent_by_another_worker_is_left_to_it(world, book, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    booking = book()
    notification = Notification.objects.get(booking=booking)
    Notification.objects.filter(pk=notification.pk).update(status="sending", claimed_at=NOW)
    assert tasks.deliver.call(notification.id) == "sending"
    assert mail.outbox == []


def test_preferences_are_validated(world):
    artist = world["artist"]
    services.update_preferences(actor=artist, sms=True, language="fr")
    preference = NotificationPreference.objects.get(user=artist)
    assert (preference.email, preference.sms, preference.language) == (True, True, "fr")
    with pytest.raises(InvalidInput) as error:
        services.update_preferences(actor=artist, language="xx")
    assert error.value.field == "language"
    artist.phone = ""
    with pytest.raises(InvalidInput) as error:
        services.update_preferences(actor=artist, sms=True)
    assert error.value.rule == "phone_required"


@pytest.mark.parametrize(("typed", "stored"), [
    ("+1 416 555 0199", "+14165550199"),
    ("+1 (416) 555-0199", "+14165550199"),
    ("  +44 20 7946 0958 ", "+442079460958"),
])
def test_a_phone_number_is_kept_in_e164(world, typed, stored):
    artist = world["artist"]
    services.update_preferences(actor=artist, phone=typed)
    artist.refresh_from_db()
    assert artist.phone == stored


@pytest.mark.parametrize(("typed", "rule", "message"), [
    ("416 555 0199", "phone_format", "enter the number with its country code, e.g. "
                                     "+1 416 555 0100"),
    ("+call me", "phone_format", "not a phone number; write it as e.g. +1 416 555 0100"),
    ("+1 555", "phone_invalid", "+1 555 is not a valid phone number for its country code"),
])
def test_a_bad_phone_number_is_refused_naming_the_field_and_nothing_is_written(
        world, typed, rule, message):
    artist = world["artist"]
    with pytest.raises(InvalidInput) as error:
        services.update_preferences(actor=artist, phone=typed, sms=True)
    assert (error.value.field, error.value.rule, error.value.message) == ("phone", rule, message)
    artist.refresh_from_db()
    assert artist.phone == "+14165550123"
    assert not NotificationPreference.objects.filter(user=artist).exists()


def test_a_number_and_sms_in_one_change_and_sms_must_go_before_the_number(world):
    artist = world["artist"]
    artist.phone = ""
    artist.save(update_fields=["phone"])
    services.update_preferences(actor=artist, phone="+1 416 555 0199", sms=True)
    artist.refresh_from_db()
    assert (artist.phone, NotificationPreference.objects.get(user=artist).sms) == (
        "+14165550199", True)

    with pytest.raises(InvalidInput) as error:
        services.update_preferences(actor=artist, phone="")
    assert (error.value.field, error.value.rule) == ("phone", "phone_required")
    artist.refresh_from_db()
    assert artist.phone == "+14165550199"

    services.update_preferences(actor=artist, phone="", sms=False)
    artist.refresh_from_db()
    assert (artist.phone, NotificationPreference.objects.get(user=artist).sms) == ("", False)
