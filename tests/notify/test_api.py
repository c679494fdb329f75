"""The notification endpoints: a test message, preferences, the record of sends."""

from __future__ import annotations

from django.core import mail

from studiobook.notify.models import Notification, NotificationPreference


def test_a_test_email_goes_to_the_caller(api, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        status, body = api.post("/notifications/test", {"channel": "email"},
                                user=world["artist"])
    assert (status, body["template"], body["channel"], body["status"]) == (
        202, "test", "email", "queued")
    (message,) = mail.outbox
    assert (message.to, message.subject) == (["ari@example.test"], "Studiobook test message")
    assert "requested 23 November 2026 12:00 UTC" in message.body
    assert Notification.objects.get(pk=body["id"]).status == "sent"


def test_a_test_sms_needs_a_phone_number(api, world, make_user):
    nobody = make_user(email="nophone@example.test")
    status, body = api.post("/notifications/test", {"channel": "sms"}, user=nobody)
    assert (status, body["code"], body["errors"][0]["field"]) == (422, "invalid_input",
                                                                   "channel")
    status, body = api.post("/notifications/test", {"channel": "pigeon"}, user=nobody)
    assert status == 422
    assert Notification.objects.count() == 0
    assert api.post("/notifications/test", {"channel": "email"})[0] == 401


def test_preferences_read_and_change(api, world):
    artist = world["artist"]
    assert api.get("/me/notification-preferences", user=artist) == (
        200, {"email": True, "sms": False, "language": "", "phone": "+14165550123"})
    status, body = api.put("/me/notification-preferences", {"sms": True, "language": "fr"},
                           user=artist)
    assert (status, body) == (200, {"email": True, "sms": True, "language": "fr",
                                    "phone": "+14165550123"})
    status, body = api.put("/me/notification-preferences", {"language": "xx"}, user=artist)
    assert (status, body["errors"][0]["field"]) == (422, "language")
    preference = NotificationPreference.objects.get(user=artist)
    assert (preference.sms, preference.language) == (True, "fr")

    status, body = api.put("/me/notification-preferences", {"phone": "+1 (647) 555-0142"},
                           user=artist)
    assert (status, body["phone"]) == (200, "+16475550142")
    status, body = api.put("/me/notification-preferences", {"phone": "647 555 0142"},
                           user=artist)
    assert (status, body["errors"][0]["field"], body["errors"][0]["rule"]) == (
        422, "phone", "phone_format")
    artist.refresh_from_db()
    assert artist.phone == "+16475550142"


def test_the_studio_sees_failures_and_an_admin_resends(api, world, book, settings,
                                                       django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.notify.test_preferences_and_idempotency.BrokenBackend"
    booking = book()
    admin_path = "/studios/northside/admin/notifications"

    status, rows = api.get(f"{admin_path}?status=failed", user=world["admin"])
    assert status == 200
    assert [(r["booking_code"], r["template"], r["status"], r["attempts"]) for r in rows] == [
        (booking.code, "submitted", "failed", 1)]
    assert rows[0]["error"] == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert rows[0]["next_attempt_at"] is not None
    assert api.get(admin_path, user=world["artist"])[0] == 403

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        status, body = api.post(f"{admin_path}/{rows[0]['id']}/resend", user=world["admin"])
    assert status == 202
    assert Notification.objects.get(pk=rows[0]["id"]).status == "sent"
    assert len(mail.outbox) == 1

    status, mine = api.get("/me/notifications", user=world["artist"])
    assert [(r["template"], r["status"], r["error"]) for r in mine] == [
        ("submitted", "sent", "")]
    assert api.post(f"{admin_path}/999999/resend", user=world["admin"])[0] == 404
