"""Holds, bookings and the allocation rows through which they occupy rooms and engineers.

Occupancy is never counted, only derived: a hold or booking blocks a resource through one
``Allocation`` row per room or engineer, spanning the session widened by its buffers
(``scheduling.allocation_span``). ``Allocation.objects.blocking(now)`` is the one definition
of "what blocks"; ``ENFORCED_ALLOCATION`` is its time-free part, reused verbatim as the
condition of the PostgreSQL exclusion constraint (migration 0002), because a constraint cannot
call now(). Booking statuses follow recording-studio-prd.md sections 6 and 7.7.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from studiobook.studios.models import Room, Service, StaffMember, Studio


class Hold(models.Model):
    """A short reservation of a slot while the artist completes the booking
    (recording-studio-prd.md section 7.11). It blocks until ``expires_at`` (UTC), at once
    and without waiting for the sweep that later marks it ``expired``."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        CONVERTED = "converted", "Converted"
        RELEASED = "released", "Released"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="holds")
    token = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    service = models.ForeignKey(Service, on_delete=models.PROTECT)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"])]

    def is_live(self, now: datetime) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at > now

    @property
    def duration_minutes(self) -> int:
        """The held session's length in whole minutes (as ``Booking.duration_minutes``)."""
        return int((self.end_at - self.start_at).total_seconds() // 60)

    @property
    def staff_ids(self) -> list[int]:
        return sorted(a.staff_id for a in self.allocations.all() if a.staff_id is not None)


class BookingQuerySet(models.QuerySet):
    def locked(self) -> BookingQuerySet:
        """The bookings under a row lock for a change of their columns (``SELECT ... FOR NO
        KEY UPDATE OF`` the booking only; no joined row is locked). A writer of rows that
        reference a booking (payments, the ledger, allocations, notifications) takes only a
        key-share lock on it, which this does not block, so a booking's writer and a payment's
        writer never wait on each other in opposite orders (PostgreSQL, "Row-level Locks";
        SQLite serialises writers anyway)."""
        return self.select_for_update(no_key=True, of=("self",))


class Booking(models.Model):
    """A booked session: a service at [start_at, end_at) (UTC) in a room and/or with
    engineers, with its price snapshot in minor units of ``currency``."""

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        CONFIRMED = "confirmed", "Confirmed"
        COMPLETED = "completed", "Completed"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected"
        NO_SHOW = "no_show", "No-show"

    class Source(models.TextChoices):
        WEB = "web", "Web"
        ADMIN = "admin", "Admin"

    BLOCKING_STATUSES = (Status.AWAITING_APPROVAL, Status.CONFIRMED)

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="bookings")
    code = models.CharField(max_length=16, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    staff = models.ManyToManyField(StaffMember, through="BookingStaff", blank=True)
    hold = models.OneToOneField(Hold, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    currency = models.CharField(max_length=3)
    subtotal_minor = models.PositiveIntegerField(default=0)
    tax_minor = models.PositiveIntegerField(default=0)
    total_minor = models.PositiveIntegerField(default=0)
    deposit_minor = models.PositiveIntegerField(default=0)
    price_snapshot = models.JSONField(default=dict, blank=True)  # the quote: lines, fees, taxes
    policy_snapshot = models.JSONField(default=dict, blank=True)
    reschedule_count = models.PositiveIntegerField(default=0)
    is_override = models.BooleanField(default=False)
    # Why an awaiting booking waits (issue 9, section 4): True when it waits only for its
    # due-now payment (the studio's first_booking_rule "deposit" for a first-time artist), so
    # that payment confirms it (bookings.services.confirm_paid_booking); False when it waits
    # for an admin (a service or studio requiring approval, or first_booking_rule "approval").
    confirm_on_payment = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_note = models.TextField(blank=True)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["start_at", "id"]
        indexes = [models.Index(fields=["studio", "start_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="booking_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_blocking(self) -> bool:
        return self.status in self.BLOCKING_STATUSES

    @property
    def duration_minutes(self) -> int:
        return int((self.end_at - self.start_at).total_seconds() // 60)


class BookingStaff(models.Model):
    class Role(models.TextChoices):
        ENGINEER = "engineer", "Engineer"
        ASSISTANT = "assistant", "Assistant"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="assignments")
    staff = models.ForeignKey(StaffMember, on_delete=models.PROTECT)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ENGINEER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["booking", "staff"], name="booking_staff_unique")
        ]


class BookingLineItem(models.Model):
    """A priced line of a booking (recording-studio-prd.md ``booking_service``), snapshotted at
    creation: later price changes never alter it. Amounts in minor units."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="line_items")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, null=True, blank=True,
                                help_text="empty for a fee line")
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price_minor = models.PositiveIntegerField()
    total_minor = models.PositiveIntegerField()


# The time-free part of "this allocation blocks": shared by blocking() and the PostgreSQL
# exclusion constraint. Override allocations still block availability but are left out of
# the constraint, so an admin can knowingly book over a conflict.
ENFORCED_ALLOCATION = Q(is_blocking=True, is_override=False)


class AllocationQuerySet(models.QuerySet):
    def blocking(self, now: datetime) -> AllocationQuerySet:
        """Allocations that block their resource at ``now`` (UTC): of a blocking booking, or of
        a hold that has not expired yet."""
        return self.filter(is_blocking=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class Allocation(models.Model):
    """One resource (a room or an engineer) occupied by a hold or a booking over
    [start_at, end_at), the session widened by that resource's buffers. UTC."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="allocations")
    booking = models.ForeignKey(
        Booking, on_delete=models.CASCADE, null=True, blank=True, related_name="allocations"
    )
    hold = models.ForeignKey(
        Hold, on_delete=models.CASCADE, null=True, blank=True, related_name="allocations"
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    staff = models.ForeignKey(StaffMember, on_delete=models.PROTECT, null=True, blank=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    is_blocking = models.BooleanField(default=True)
    is_override = models.BooleanField(default=False)

    objects = AllocationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["room", "start_at"], name="allocation_room_start"),
            models.Index(fields=["staff", "start_at"], name="allocation_staff_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(booking__isnull=False, hold__isnull=True)
                    | Q(booking__isnull=True, hold__isnull=False)
                ),
                name="allocation_owner",
            ),
            models.CheckConstraint(
                condition=(
                    Q(room__isnull=False, staff__isnull=True)
                    | Q(room__isnull=True, staff__isnull=False)
                ),
                name="allocation_resource",
            ),
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="allocation_end_after_start"
            ),
        ]

    @property
    def resource_label(self) -> str:
        return f"room {self.room_id}" if self.room_id else f"staff {self.staff_id}"
