"""The record of every notification: one ``Notification`` row per message per channel, and each
user's ``NotificationPreference``.

A row is created before anything is sent (status ``queued``) and its ``key`` is unique, so the
same event handled twice, a periodic job run twice, or a retried task never sends the same
message twice (ARCHITECTURE.md principle 6). The delivery task (``notify.tasks.deliver``)
moves it to ``sent``, ``failed`` (with ``error``, and ``next_attempt_at`` while a retry is
scheduled) or ``skipped`` (preferences off, no phone number, or the booking changed so that
the message no longer applies). Templates are recording-studio-prd.md section 13.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from studiobook.accounts.encryption import EncryptedTextField


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Template(models.TextChoices):
    SUBMITTED = "submitted", "Booking submitted"
    APPROVED = "approved", "Booking approved"
    REJECTED = "rejected", "Booking rejected"
    REMINDER = "reminder", "Reminder"
    RESCHEDULED = "rescheduled", "Booking rescheduled"
    CANCELED = "canceled", "Booking canceled"
    PAYMENT_FAILED = "payment_failed", "Payment failed / action needed"
    TEST = "test", "Test message"


class Notification(models.Model):
    """One message to one user over one channel.

    ``key`` identifies the message (``"<booking id>:<template>:<channel>:<what makes it
    distinct>"``, e.g. the start time for a reminder) and is unique: creating it again returns
    the existing row. ``payload`` holds the template variables as rendered for the user (the
    studio's zone, the user's language), so a retry sends exactly what was first queued.
    ``recipient`` is the address or number it went to (encrypted at rest: filter it by its
    exact value only); ``provider_message_id`` what the
    provider called it (the SMTP Message-ID, Twilio's ``SM...`` sid); ``ics_method`` the
    METHOD of the calendar invite attached (``REQUEST``/``CANCEL``), if any."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    studio = models.ForeignKey("studios.Studio", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="notifications")
    booking = models.ForeignKey("bookings.Booking", on_delete=models.CASCADE, null=True,
                                blank=True, related_name="notifications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    template = models.CharField(max_length=32, choices=Template.choices)
    key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # An address or a phone number: encrypted at rest, searchable by its exact value.
    recipient = EncryptedTextField(max_length=254, blank=True, searchable=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    ics_method = models.CharField(max_length=16, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True,
                                      help_text="when a worker started sending it")
    next_attempt_at = models.DateTimeField(null=True, blank=True,
                                           help_text="when the scheduled retry runs")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["booking", "template"], name="notification_booking_template"),
            models.Index(fields=["status", "created_at"], name="notification_status_created"),
            models.Index(fields=["user", "created_at"], name="notification_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.template} by {self.channel} to user {self.user_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        """Sent or skipped: nothing more will happen to it."""
        return self.status in (self.Status.SENT, self.Status.SKIPPED)


class NotificationPreference(models.Model):
    """What a user wants to receive: email (on by default), SMS (off by default, needs
    ``User.phone`` in E.164), and the language of the messages (empty: the studio's, else
    ``settings.LANGUAGE_CODE``). No row means the defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True,
                                help_text="a language code such as 'en' or 'fr'")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"

    def allows(self, channel: str) -> bool:
        return self.sms if channel == Channel.SMS else self.email
