"""Calendar rows: the iCalendar identity of each booking, feed tokens, CalDAV accounts and the
record of every push, and external calendars whose events block availability.

Instants are UTC, half-open ``[start_at, end_at)``, as everywhere in Studiobook. Every row
hangs off a booking, a studio or a user, so tenancy follows from its owner.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from studiobook.accounts.encryption import EncryptedTextField
from studiobook.bookings.models import Booking
from studiobook.studios.models import Room, StaffMember, Studio, StudioScopedQuerySet


class CalendarState(models.Model):
    """The iCalendar identity of a booking (RFC 5545 section 3.8.4.7 UID, 3.8.7.4 SEQUENCE).

    ``uid`` is ``"{booking.code}@studiobook"``, set once and never changed, so every invite,
    feed entry and CalDAV copy of the booking is the same calendar object. ``sequence``
    starts at 0 and is raised by one for each significant change: a new time, room or set of
    engineers, or the booking leaving the calendar (canceled, rejected). Approval, completion
    and no-show do not raise it. ``fingerprint`` is a digest of those significant fields as
    last seen; raising is a compare-and-swap on it (``services.sync_calendar_state``), so a
    change is counted once however many callers notice it."""

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, primary_key=True,
                                   related_name="calendar_state")
    uid = models.CharField(max_length=255, unique=True)
    sequence = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.uid} #{self.sequence}"


class FeedToken(models.Model):
    """The secret that opens a subscription feed (``/calendar/.../<id>.ics?token=...``).

    Only a SHA-256 digest of the token is stored; the token itself is shown once, in the URL
    that ``services.rotate_feed_token`` returns. At most one token per feed is active;
    rotating deactivates the old one, which then opens nothing (404). ``kind`` names the feed:
    an engineer's sessions (``staff``), a room's sessions (``room``), or an artist's own
    bookings across studios (``artist``, no studio)."""

    class Kind(models.TextChoices):
        STAFF = "staff", "Staff member"
        ROOM = "room", "Room"
        ARTIST = "artist", "Artist"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="feed_tokens")
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="feed_tokens")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="feed_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                             blank=True, related_name="feed_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="staff", studio__isnull=False, staff__isnull=False,
                      room__isnull=True, user__isnull=True)
                    | Q(kind="room", studio__isnull=False, staff__isnull=True,
                        room__isnull=False, user__isnull=True)
                    | Q(kind="artist", studio__isnull=True, staff__isnull=True,
                        room__isnull=True, user__isnull=False)
                ),
                name="feed_token_target",
            ),
            models.UniqueConstraint(fields=["staff"], condition=Q(is_active=True, kind="staff"),
                                    name="feed_token_one_active_per_staff"),
            models.UniqueConstraint(fields=["room"], condition=Q(is_active=True, kind="room"),
                                    name="feed_token_one_active_per_room"),
            models.UniqueConstraint(fields=["user"], condition=Q(is_active=True, kind="artist"),
                                    name="feed_token_one_active_per_artist"),
        ]

    def __str__(self) -> str:
        target = self.staff_id or self.room_id or self.user_id
        return f"{self.kind} feed {target} ({'active' if self.is_active else 'revoked'})"


class CalDAVAccount(models.Model):
    """A staff member's CalDAV calendar that confirmed sessions are pushed to (iCloud,
    Fastmail, Nextcloud, Google's CalDAV, Radicale ...).

    ``url`` is the server (or principal) URL used to sign in, ``calendar_url`` the calendar
    collection events are written to (discovered at connection when left empty). The
    password is encrypted at rest (``accounts.encryption``) and never shown again; it should
    be an app-specific password that can be revoked on its own (docs/calendars.md)."""

    staff = models.OneToOneField(StaffMember, on_delete=models.CASCADE,
                                 related_name="caldav_account")
    url = models.CharField(max_length=500)
    username = models.CharField(max_length=200)
    password = EncryptedTextField(max_length=500)
    calendar_url = models.CharField(max_length=500)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CalDAV account"

    def __str__(self) -> str:
        return f"{self.username} at {self.calendar_url}"


class CalendarSync(models.Model):
    """The copy of one booking in one engineer's external calendar, and how pushing it went.

    ``status``: ``pending`` (not pushed yet), ``synced`` (the server holds the booking as of
    ``synced_sequence``), ``failed`` (the last attempt failed: ``error``; retried at
    ``next_attempt_at`` until ``jobs.MAX_ATTEMPTS``), ``deleted`` (removed from the calendar
    after a cancellation, rejection or reassignment). ``attempts`` counts failures in a row
    and returns to 0 on success. ``href`` is the event's URL on the server.
    ``requested_at``: a push of the booking was asked for then (written in the booking's own
    transaction) and no sync run has finished since; the recovery sweep re-enqueues rows
    still requested after a grace period (a process died between commit and enqueue)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="calendar_syncs")
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE,
                              related_name="calendar_syncs")
    provider = models.CharField(max_length=16, default="caldav")
    href = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    synced_sequence = models.PositiveIntegerField(null=True, blank=True)
    synced_fingerprint = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["booking", "staff", "provider"],
                                    name="calendar_sync_unique")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"],
                                name="calendar_sync_status_next"),
                   models.Index(fields=["requested_at"], name="calendar_sync_requested")]

    def __str__(self) -> str:
        return f"{self.provider} {self.booking_id}/{self.staff_id}: {self.status}"


class ExternalCalendar(models.Model):
    """An outside calendar of a room or an engineer whose busy events block availability:
    an ICS address (Google's secret address, an iCloud public calendar, any webcal:// URL) or
    a CalDAV calendar collection.

    ``zone`` is the IANA zone for all-day and floating events when the calendar names none
    itself (X-WR-TIMEZONE); empty means the studio's zone. ``status`` is ``pending`` until the
    first refresh, then ``ok`` or ``failing``; a failing calendar keeps blocking with its last
    good copy (``ExternalBusy``) and shows ``last_error`` in the admin. ``refreshed_at`` is
    the last attempt, ``last_success_at`` the last good fetch."""

    class Kind(models.TextChoices):
        ICS = "ics", "ICS address"
        CALDAV = "caldav", "CalDAV calendar"

    class Status(models.TextChoices):
        PENDING = "pending", "Not fetched yet"
        OK = "ok", "OK"
        FAILING = "failing", "Failing"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE,
                               related_name="external_calendars")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="external_calendars")
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="external_calendars")
    name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ICS)
    # A secret address (Google's, iCloud's) opens the calendar to anyone who has it: it and
    # the password are encrypted at rest and never shown again (only the host is).
    url = EncryptedTextField(max_length=1000)
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(max_length=500, blank=True)
    zone = models.CharField(max_length=64, blank=True,
                            help_text="IANA zone for all-day events; empty: the calendar's "
                                      "X-WR-TIMEZONE, else the studio's zone")
    is_active = models.BooleanField(default=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(room__isnull=False, staff__isnull=True)
                           | Q(room__isnull=True, staff__isnull=False)),
                name="external_calendar_target",
            )
        ]

    def __str__(self) -> str:
        return self.name or f"external calendar {self.pk}"

    @property
    def target(self) -> tuple[str, int]:
        """``("room", id)`` or ``("staff", id)``: the resource this calendar blocks."""
        return ("room", self.room_id) if self.room_id else ("staff", self.staff_id)

    @property
    def is_failing(self) -> bool:
        return self.status == self.Status.FAILING


class ExternalBusy(models.Model):
    """One busy occurrence of an external calendar, expanded (recurrences, all-day events in
    the calendar's zone) to UTC ``[start_at, end_at)``. The set of rows of a calendar is its
    last good copy: replaced as a whole by each successful refresh, kept on failure."""

    external_calendar = models.ForeignKey(ExternalCalendar, on_delete=models.CASCADE,
                                          related_name="busy")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    summary = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start_at", "id"]
        verbose_name_plural = "external busy times"
        indexes = [models.Index(fields=["external_calendar", "start_at"],
                                name="external_busy_calendar_start")]
        constraints = [
            models.CheckConstraint(condition=Q(end_at__gt=models.F("start_at")),
                                   name="external_busy_end_after_start")
        ]
