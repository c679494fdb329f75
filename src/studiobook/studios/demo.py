"""Demo data for ``studiobook demo``: the Northside Sound studio (src/studiobook/demo/studio.toml),
demo logins and a few confirmed bookings relative to now.

Idempotent: the studio is imported only when its slug does not exist, users are created only
when missing (existing passwords are kept), and bookings are created only while the studio
has none. Bookings go through ``bookings.services.create_booking`` as the demo admin
(``source="admin"``, so they are confirmed), which checks them like any other booking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.utils import timezone

from studiobook.bookings.services import create_booking
from studiobook.studios.errors import DomainError
from studiobook.studios.importer import parse_studio_file, write_studio
from studiobook.studios.models import Membership, Room, Service, StaffMember, Studio

DEMO_STUDIO_FILE = Path(__file__).resolve().parent.parent / "demo" / "studio.toml"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@studiobook.test", "studiobook-admin"
ARTIST_EMAIL, ARTIST_PASSWORD = "artist@studiobook.test", "studiobook-artist"
ARTIST_PHONE = "+14165550100"  # a fictional 555 number (stored encrypted, like any phone)
# The platform operator (Django admin, /admin/): a login of its own, not the studio admin, so
# that a studio's admin never holds platform-wide powers (every studio, every user).
OPERATOR_EMAIL, OPERATOR_PASSWORD = "operator@studiobook.test", "studiobook-operator"
STAFF_PASSWORD = "studiobook-staff"
ATTEMPTS = 3  # matching days tried per planned booking before giving up on it


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str


@dataclass
class DemoSummary:
    """What ``load_demo`` found or made. ``bookings`` are the ones created by this call;
    ``problems`` name each planned booking that could not be made, and why."""

    studio: Studio
    studio_created: bool
    logins: list[DemoLogin]
    users_created: list[str] = field(default_factory=list)
    bookings: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    next_dst_change: datetime | None = None
    dst_booking: object | None = None


@dataclass(frozen=True)
class _Plan:
    """A booking to make on the first of ``weekdays`` (ISO) from ``first_day`` on, at the
    local wall-clock ``start``."""

    label: str
    service: str
    room: str | None
    engineer: str
    weekdays: frozenset[int]
    start: time
    duration_minutes: int
    notes: str


WEEKDAYS = frozenset({1, 2, 3, 4, 5})
PLANS = (
    # (days from today, plan); engineers' hours are in studio.toml
    (2, _Plan("tracking", "Recording session", "Studio A", "maya.chen@studiobook.test",
              WEEKDAYS, time(10, 0), 240, "Demo: The Maple Static, drums and bass for the EP")),
    (3, _Plan("mixing", "Mixing session", "Studio B", "theo.okafor@studiobook.test",
              frozenset({2, 3, 4, 5}), time(18, 0), 240, "Demo: mix of 'Dundas at Night'")),
    (4, _Plan("vocals", "Vocal session", "Vocal Booth", "priya.nair@studiobook.test",
              frozenset({6, 7}), time(13, 0), 120, "Demo: lead vocals, two songs")),
    (5, _Plan("mastering", "Remote mastering", None, "sam.leblanc@studiobook.test",
              frozenset({3}), time(13, 0), 120, "Demo: master four tracks for streaming")),
    (9, _Plan("overdubs", "Recording session", "Studio A", "maya.chen@studiobook.test",
              WEEKDAYS, time(13, 30), 180, "Demo: piano overdubs on the Yamaha C7")),
)
DST_PLAN = _Plan("after the DST change", "Recording session", "Studio A",
                 "maya.chen@studiobook.test", WEEKDAYS, time(14, 0), 180,
                 "Demo: first session after the clocks change")


def next_offset_change(zone: ZoneInfo, after: datetime, *, within_days: int = 400
                       ) -> datetime | None:
    """The first instant (UTC) after ``after`` at which ``zone``'s UTC offset changes, or None
    within ``within_days``. Read from the zone's rules, so it needs no yearly update."""
    def offset(instant: datetime) -> timedelta:
        return instant.astimezone(zone).utcoffset()

    start = after.astimezone(UTC)
    first = offset(start)
    low = start
    for day in range(1, within_days + 1):
        high = start + timedelta(days=day)
        if offset(high) != first:
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == first:
                    low = middle
                else:
                    high = middle
            return high.replace(microsecond=0)
        low = high
    return None


def _ensure_user(email: str, name: str, password: str, *, operator: bool = False,
                 phone: str = ""):
    """Get or create a user; a new one gets ``password`` (and ``phone``). Only ``operator``
    users are platform operators (``is_staff`` and ``is_superuser``: the Django admin); any
    other demo user is made not one, also in a demo database loaded by an older version
    (where the studio admin was the operator)."""
    User = get_user_model()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name,
                                        phone=phone)
    if (user.is_staff, user.is_superuser) != (operator, operator):
        user.is_staff = user.is_superuser = operator
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _mark_verified(emails: list[str]) -> None:
    """Record the demo addresses as verified with django-allauth, so that the demo logins can
    sign in on the web pages without a confirmation email (ACCOUNT_EMAIL_VERIFICATION is
    "mandatory" by default)."""
    from allauth.account.models import EmailAddress

    for user in get_user_model().objects.filter(email__in=emails):
        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True})


def _book(*, admin, studio: Studio, plan: _Plan, first_day: date, last_day: date | None,
          now: datetime):
    """Create ``plan`` on the first day from ``first_day`` on (up to ``last_day``) where it
    fits; tries ATTEMPTS matching days. Returns (booking, None) or (None, why)."""
    zone = ZoneInfo(studio.time_zone)
    service = Service.objects.get(studio=studio, name=plan.service)
    room = Room.objects.get(studio=studio, name=plan.room) if plan.room else None
    engineer = StaffMember.objects.get(studio=studio, user__email=plan.engineer)
    reasons = []
    day = first_day
    while len(reasons) < ATTEMPTS and (last_day is None or day <= last_day):
        if day.isoweekday() in plan.weekdays:
            start_at = datetime.combine(day, plan.start, tzinfo=zone).astimezone(UTC)
            try:
                booking = create_booking(
                    actor=admin, studio=studio, service=service, start_at=start_at,
                    duration_minutes=plan.duration_minutes,
                    room_id=room.id if room else None, staff_ids=[engineer.id],
                    notes=plan.notes, source="admin", now=now)
            except DomainError as error:
                reasons.append(f"{day.isoformat()} {plan.start:%H:%M}: {error.message}")
                if error.extra.get("reason") == "horizon":
                    break  # later days are further still
            else:
                return booking, None
        day += timedelta(days=1)
    return None, f"{plan.label} ({plan.service}): " + ("; ".join(reasons) or "no matching day")


def load_demo(now: datetime | None = None) -> DemoSummary:
    """Load the demo studio, users and bookings (idempotent; see the module docstring).

    ``now`` (aware; default the current time) anchors the bookings: five in the next two weeks
    and one in the week after the studio zone's next DST change. A booking that cannot be made
    is skipped and described in ``DemoSummary.problems``.
    """
    now = now or timezone.now()
    spec = parse_studio_file(DEMO_STUDIO_FILE)
    emails = [ADMIN_EMAIL, ARTIST_EMAIL, *(s.email for s in spec.staff), OPERATOR_EMAIL]
    existing = set(get_user_model().objects.filter(email__in=emails)
                   .values_list("email", flat=True))
    studio = Studio.objects.filter(slug=spec.slug).first()
    studio_created = studio is None
    if studio_created:
        studio = write_studio(spec, source=str(DEMO_STUDIO_FILE)).studio

    admin = _ensure_user(ADMIN_EMAIL, "Northside Admin", ADMIN_PASSWORD)
    _ensure_user(ARTIST_EMAIL, "Demo Artist", ARTIST_PASSWORD, phone=ARTIST_PHONE)
    _ensure_user(OPERATOR_EMAIL, "Platform Operator", OPERATOR_PASSWORD, operator=True)
    Membership.objects.get_or_create(studio=studio, user=admin,
                                     defaults={"role": Membership.Role.ADMIN})
    roles = dict(Membership.objects.filter(studio=studio).values_list("user__email", "role"))
    logins = [DemoLogin(ADMIN_EMAIL, ADMIN_PASSWORD, "studio admin"),
              DemoLogin(ARTIST_EMAIL, ARTIST_PASSWORD, "artist")]
    logins += [DemoLogin(s.email, STAFF_PASSWORD, f"engineer, {roles.get(s.email, 'staff')}")
               for s in spec.staff]
    logins.append(DemoLogin(OPERATOR_EMAIL, OPERATOR_PASSWORD,
                            "platform operator (Django admin only)"))
    users_created = [e for e in emails if e not in existing]
    _mark_verified(emails)

    zone = ZoneInfo(studio.time_zone)
    summary = DemoSummary(studio=studio, studio_created=studio_created, logins=logins,
                          users_created=users_created,
                          next_dst_change=next_offset_change(zone, now))
    if studio.bookings.exists():
        return summary

    today = now.astimezone(zone).date()
    for days_ahead, plan in PLANS:
        booking, problem = _book(admin=admin, studio=studio, plan=plan,
                                 first_day=today + timedelta(days=days_ahead), last_day=None,
                                 now=now)
        if booking:
            summary.bookings.append(booking)
        else:
            summary.problems.append(problem)

    if summary.next_dst_change is None:
        summary.problems.append(f"{DST_PLAN.label}: {zone.key} has no offset change ahead")
    else:
        change_day = summary.next_dst_change.astimezone(zone).date()
        booking, problem = _book(admin=admin, studio=studio, plan=DST_PLAN,
                                 first_day=change_day + timedelta(days=1),
                                 last_day=change_day + timedelta(days=7), now=now)
        if booking:
            summary.bookings.append(booking)
            summary.dst_booking = booking
        else:
            summary.problems.append(problem)
    return summary
