"""Tenants and their resources.

Every tenant row hangs off a ``Studio``; tenant queries go through ``for_studio`` querysets so
that another studio's id gives 404. Weekdays are ISO 8601 numbers (1 = Monday ... 7 = Sunday)
everywhere, as in ``studiobook.scheduling``. Money is integer minor units in the studio's
ISO 4217 currency. Instants are UTC; ``Studio.time_zone`` is the IANA zone that wall-clock
times (schedule rules, forms, emails) are read in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class StudioScopedQuerySet(models.QuerySet):
    def for_studio(self, studio: Studio) -> StudioScopedQuerySet:
        return self.filter(studio=studio)


class Studio(models.Model):
    """A studio (the tenant) and its booking settings (recording-studio-prd.md section 7).

    Settings are in minutes unless named otherwise: ``hold_minutes`` is how long a hold
    blocks its slot, ``lead_time_minutes`` the minimum notice, ``horizon_days`` how far ahead
    one may book, ``slot_grid_minutes`` the spacing of offered start times,
    ``max_active_holds`` how many live holds one artist may keep at this studio;
    ``max_unpaid_bookings`` and ``max_unpaid_hours`` how many upcoming unpaid bookings (and
    hours of them) one artist may have; ``first_booking_rule`` what an artist's first booking
    here needs (``approval``: it waits for the studio like a service that requires approval;
    ``deposit``: it waits until its due-now payment, the deposit or else the full price, is
    paid or authorized, which confirms it; see ``bookings.services.confirm_paid_booking``).
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, help_text="IANA zone, e.g. America/Toronto")
    currency = models.CharField(max_length=3, default="CAD", help_text="ISO 4217 code")
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    description = models.TextField(blank=True)

    hold_minutes = models.PositiveIntegerField(default=10)
    max_active_holds = models.PositiveIntegerField(default=3)
    lead_time_minutes = models.PositiveIntegerField(default=120)
    horizon_days = models.PositiveIntegerField(default=90)
    slot_grid_minutes = models.PositiveIntegerField(default=15)
    requires_approval = models.BooleanField(default=False)

    # Payments (issue 3). Policies are JSON in ``scheduling.policies``' dict form; empty
    # means Studiobook's defaults (48 h: 100 %, 24 h: 50 %, then nothing; one free
    # reschedule up to 24 h before). Hours are wall-clock hours in the studio's zone.
    cancellation_policy = models.JSONField(default=dict, blank=True)
    reschedule_policy = models.JSONField(default=dict, blank=True)
    approval_window_hours = models.PositiveIntegerField(
        default=48, help_text="how long the studio may take to approve a booking")
    balance_lead_hours = models.PositiveIntegerField(
        default=48, help_text="the balance is charged this many hours before the session")
    platform_fee_basis_points = models.PositiveIntegerField(
        default=0, help_text="the platform's cut of captured revenue, 100 = 1 %")

    # Abuse limits (issue 9, section 4): what one artist may keep booked and unpaid here.
    # "Unpaid" is an upcoming active booking (confirmed or awaiting approval) with a price and
    # nothing paid yet; see bookings.services.check_unpaid_limits.
    class FirstBookingRule(models.TextChoices):
        NONE = "none", "No extra rule"
        APPROVAL = "approval", "The studio approves it"
        DEPOSIT = "deposit", "Paying the deposit confirms it"

    max_unpaid_bookings = models.PositiveIntegerField(
        default=4, help_text="upcoming unpaid bookings one artist may have at once")
    max_unpaid_hours = models.PositiveIntegerField(
        default=12, help_text="total hours of upcoming unpaid bookings one artist may have")
    first_booking_rule = models.CharField(
        max_length=16, choices=FirstBookingRule.choices, default=FirstBookingRule.NONE,
        help_text="for an artist with no completed or paid booking here yet")

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(slot_grid_minutes__gt=0), name="studio_grid_positive"
            ),
            models.CheckConstraint(condition=Q(hold_minutes__gt=0), name="studio_hold_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role at a studio. Artists need no membership: anyone signed in may book."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        STAFF = "staff", "Staff"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["studio", "user"], name="membership_unique")
        ]


class Room(models.Model):
    """A bookable room. ``tags`` (e.g. ["tracking", "vocal"]) match ``Service.room_tags``."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    capacity = models.PositiveIntegerField(default=1)
    tags = models.JSONField(default=list, blank=True)
    equipment = models.JSONField(default=list, blank=True)
    color = models.CharField(max_length=16, blank=True)
    photo = models.ImageField(upload_to="rooms/", blank=True,
                              help_text="shown on the studio's home page (JPEG, PNG or WebP)")
    is_active = models.BooleanField(default=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["studio", "name"], name="room_name_unique")]

    def __str__(self) -> str:
        return self.name

    def has_tags(self, required: list[str]) -> bool:
        return set(required).issubset(self.tags or [])


class StaffMember(models.Model):
    """An engineer or producer working at a studio, with ``skills`` (e.g. ["mixing"]) that
    match ``Service.staff_skill_required`` and an hourly rate in minor units."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profiles"
    )
    display_name = models.CharField(max_length=150)
    skills = models.JSONField(default=list, blank=True)
    hourly_rate_minor = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["studio", "user"], name="staff_unique")]

    def __str__(self) -> str:
        return self.display_name

    def has_skill(self, skill: str) -> bool:
        return not skill or skill in (self.skills or [])


class Service(models.Model):
    """Something an artist books: a recording session, a mixing session, a podcast hour.

    Durations are minutes: a booking's duration lies in [min, max] and is a multiple of
    ``duration_step_minutes`` (recording-studio-prd.md section 7.4). ``base_price_minor`` is
    per hour or per session (``price_unit``). A service may need a room (with all of
    ``room_tags``), an engineer (with ``staff_skill_required``), or both.
    """

    class PriceUnit(models.TextChoices):
        HOUR = "hour", "per hour"
        SESSION = "session", "per session"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    default_duration_minutes = models.PositiveIntegerField(default=60)
    min_duration_minutes = models.PositiveIntegerField(default=60)
    max_duration_minutes = models.PositiveIntegerField(default=480)
    duration_step_minutes = models.PositiveIntegerField(default=60)
    price_unit = models.CharField(max_length=16, choices=PriceUnit.choices, default="hour")
    base_price_minor = models.PositiveIntegerField(default=0)
    requires_room = models.BooleanField(default=True)
    room_tags = models.JSONField(default=list, blank=True)
    requires_engineer = models.BooleanField(default=False)
    staff_skill_required = models.CharField(max_length=64, blank=True)
    requires_approval = models.BooleanField(default=False)
    deposit_percent = models.PositiveIntegerField(default=0)
    is_add_on = models.BooleanField(
        default=False, help_text="an extra sold with a session (per unit), not booked alone")
    is_active = models.BooleanField(default=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["studio", "name"], name="service_name_unique"),
            models.CheckConstraint(
                condition=Q(duration_step_minutes__gt=0), name="service_step_positive"
            ),
            models.CheckConstraint(
                condition=Q(min_duration_minutes__lte=models.F("max_duration_minutes")),
                name="service_min_le_max",
            ),
            models.CheckConstraint(
                condition=Q(deposit_percent__lte=100), name="service_deposit_percent_le_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TaxRate(models.Model):
    """A named tax the studio charges on bookings, in parts per million (``130000`` = 13 %,
    ``99750`` = Quebec's QST 9.975 %). The accepted range is 0 ..
    ``scheduling.money.MAX_TAX_RATE_PPM`` (30 %, checked by ``studios.services.save``); the
    database only guarantees at most 100 %, so that rows stored before that bound still
    load (a quote then names the tax to fix, ``bookings.pricing.quote_booking``)."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="tax_rates")
    name = models.CharField(max_length=64)
    rate_ppm = models.PositiveIntegerField(
        help_text="parts per million: 130000 = 13 %, 99750 = 9.975 %")
    is_active = models.BooleanField(default=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["studio", "name"], name="tax_rate_name_unique"),
            models.CheckConstraint(condition=Q(rate_ppm__lte=1_000_000),
                                   name="tax_rate_ppm_at_most_100_percent"),
        ]


class Fee(models.Model):
    """A fee added to every booking: fixed (minor units, at most
    ``scheduling.money.MAX_FIXED_FEE_MINOR``) or a percent of the lines (basis points, at
    most ``MAX_PERCENT_FEE_BASIS_POINTS`` = 100 %); ``is_taxable`` fees are part of the
    taxable base. The bounds are checked by ``studios.services.save``; rows stored before
    them make a quote name the fee to fix (``bookings.pricing.quote_booking``)."""

    class Kind(models.TextChoices):
        FIXED = "fixed", "Fixed"
        PERCENT = "percent", "Percent"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="fees")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.PositiveIntegerField()
    is_taxable = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


class Target(models.TextChoices):
    STUDIO = "studio", "Studio"
    ROOM = "room", "Room"
    STAFF = "staff", "Staff"


def _target_constraint(name: str) -> models.CheckConstraint:
    """Exactly the foreign key that ``target_type`` names is set."""
    return models.CheckConstraint(
        condition=(
            Q(target_type="studio", room__isnull=True, staff__isnull=True)
            | Q(target_type="room", room__isnull=False, staff__isnull=True)
            | Q(target_type="staff", room__isnull=True, staff__isnull=False)
        ),
        name=name,
    )


class ScheduleRule(models.Model):
    """Weekly working hours of the studio, a room or a staff member, as local wall-clock
    times in the studio's zone. ``weekdays`` is a list of ISO numbers (1 = Monday).
    ``end_time <= start_time`` means the window runs past midnight. Effective dates are
    inclusive. A room or engineer with no rules follows the studio's hours; a studio with no
    rules is closed."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="schedule_rules")
    target_type = models.CharField(max_length=16, choices=Target.choices)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, null=True, blank=True)
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, null=True, blank=True)
    weekdays = models.JSONField()
    start_time = models.TimeField()
    end_time = models.TimeField()
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [_target_constraint("schedule_rule_target")]


class Blackout(models.Model):
    """A period when the studio, a room or a staff member is unavailable (holiday,
    maintenance, sick day). UTC instants, half-open [start_at, end_at)."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="blackouts")
    target_type = models.CharField(max_length=16, choices=Target.choices)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, null=True, blank=True)
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, null=True, blank=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["start_at", "id"]
        constraints = [
            _target_constraint("blackout_target"),
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="blackout_end_after_start"
            ),
        ]


class BufferRule(models.Model):
    """Setup/teardown minutes around a booking (recording-studio-prd.md section 7.2).

    A booking's allocation on a resource is widened by the larger of the service's buffer and
    that resource's own buffer, before and after independently: a room's changeover blocks the
    room, an engineer's break blocks the engineer."""

    class Scope(models.TextChoices):
        ROOM = "room", "Room"
        SERVICE = "service", "Service"
        STAFF = "staff", "Staff"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="buffer_rules")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, null=True, blank=True)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, null=True, blank=True)
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, null=True, blank=True)
    before_minutes = models.PositiveIntegerField(default=0)
    after_minutes = models.PositiveIntegerField(default=0)

    objects = StudioScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="room", room__isnull=False, service__isnull=True, staff__isnull=True)
                    | Q(scope="service", room__isnull=True, service__isnull=False,
                        staff__isnull=True)
                    | Q(scope="staff", room__isnull=True, service__isnull=True,
                        staff__isnull=False)
                ),
                name="buffer_rule_target",
            )
        ]


class AuditLog(models.Model):
    """Who did what to which row, with a JSON diff. Written inside the transaction of the
    change it records (ARCHITECTURE.md principle 2); every state change and admin override."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(max_length=64)
    entity = models.CharField(max_length=32)
    entity_id = models.CharField(max_length=64)
    diff = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["entity", "entity_id"])]
