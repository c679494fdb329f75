"""Import a studio, with its rooms, staff, services, hours, blackouts, buffers, taxes and fees,
from a TOML file (the format is documented key by key in docs/studio-file.md).

Two steps, so that nothing is written when anything is wrong:

1. ``parse_studio_file`` / ``parse_studio_toml`` read and validate the whole file without
   touching the database and return a ``StudioSpec``, or raise ``StudioFileError`` listing
   every problem as ``"path.to.key: rule"`` (``rooms[1].hours[0].end: must be after start``).
2. ``write_studio`` writes a spec through the ORM in one durable transaction, with an
   AuditLog row ``studio.import``.

``import_studio_file`` does both. The importer only checks the file; booking rules live in
the booking services. Weekdays are ISO numbers (1 = Monday ... 7 = Sunday) in the database;
the file may also name them ("mon" .. "sun").
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import ProtectedError

from studiobook import limits
from studiobook.scheduling import money
from studiobook.studios import audit
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Fee,
    Membership,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
    Target,
    TaxRate,
)
from studiobook.studios.services import CHECKS, SETTING_CHOICES, SETTING_LIMITS

WEEKDAYS = {
    "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
    "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
    "sunday": 7,
}
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
MIDNIGHT_END = "24:00"
MAX_INTEGER = 2_147_483_647  # PositiveIntegerField's upper bound on every database

_MISSING = object()


class StudioFileError(Exception):
    """A studio file that cannot be imported. ``problems`` lists each as
    ``"path.to.key: rule"``; nothing has been written."""

    def __init__(self, problems: list[str], source: str = "studio file"):
        self.problems = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"{self.source}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


# --- the validated file ----------------------------------------------------------------------

@dataclass(frozen=True)
class HoursSpec:
    """One weekly window. ``end <= start`` means it runs past midnight (as ScheduleRule)."""

    weekdays: tuple[int, ...]
    start: time
    end: time
    effective_from: date | None = None
    effective_to: date | None = None


@dataclass(frozen=True)
class RoomSpec:
    name: str
    description: str = ""
    capacity: int = 1
    tags: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    color: str = ""
    is_active: bool = True
    hours: tuple[HoursSpec, ...] = ()
    buffer_before: int = 0
    buffer_after: int = 0


@dataclass(frozen=True)
class StaffSpec:
    email: str
    name: str
    skills: tuple[str, ...] = ()
    hourly_rate_minor: int = 0
    role: str = Membership.Role.STAFF
    password: str | None = None
    is_active: bool = True
    hours: tuple[HoursSpec, ...] = ()
    buffer_before: int = 0
    buffer_after: int = 0


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str = ""
    default_duration: int = 60
    min_duration: int = 60
    max_duration: int = 480
    duration_step: int = 60
    price_unit: str = Service.PriceUnit.HOUR
    base_price_minor: int = 0
    requires_room: bool = True
    room_tags: tuple[str, ...] = ()
    requires_engineer: bool = False
    staff_skill: str = ""
    requires_approval: bool = False
    deposit_percent: int = 0
    is_active: bool = True
    buffer_before: int = 0
    buffer_after: int = 0


@dataclass(frozen=True)
class BlackoutSpec:
    """``target`` is "studio", ("room", name) or ("staff", email); instants are UTC."""

    target_type: str
    target_key: str | None
    start_at: datetime
    end_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class TaxSpec:
    """A tax rate; ``rate_ppm`` in parts per million (99750 = 9.975 %)."""

    name: str
    rate_ppm: int
    is_active: bool = True


@dataclass(frozen=True)
class FeeSpec:
    """A fee; ``amount`` in minor units (fixed) or basis points (percent), as ``Fee``."""

    name: str
    kind: str
    amount: int
    is_taxable: bool = True
    is_active: bool = True


@dataclass(frozen=True)
class AdminSpec:
    email: str
    name: str = ""
    password: str | None = None


@dataclass(frozen=True)
class StudioSpec:
    """A validated studio file. ``settings`` holds the Studio model fields."""

    slug: str
    settings: dict[str, Any]
    hours: tuple[HoursSpec, ...]
    rooms: tuple[RoomSpec, ...] = ()
    staff: tuple[StaffSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    blackouts: tuple[BlackoutSpec, ...] = ()
    admins: tuple[AdminSpec, ...] = ()
    taxes: tuple[TaxSpec, ...] | None = None  # None: the file has no ``taxes`` key
    fees: tuple[FeeSpec, ...] | None = None  # None: the file has no ``fees`` key


@dataclass
class ImportResult:
    studio: Studio
    created: bool
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        verb = "Imported" if self.created else "Replaced"
        parts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        return f"{verb} studio '{self.studio.slug}' ({self.studio.name}): {parts}"


# --- reading with collected problems -----------------------------------------------------------

def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Typed access to TOML tables that records each problem and carries on, so one run reports
    every mistake in the file."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, rule: str) -> None:
        self.problems.append(f"{path}: {rule}")

    def table(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.fail(path, "must be a table")
            return None
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                self.fail(_join(path, key),
                          "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else ""))
        return value

    def tables(self, parent: dict, path: str, key: str) -> list[tuple[str, Any]]:
        """The entries of an array of tables, with their paths (``rooms[0]``)."""
        value = parent.get(key, [])
        where = _join(path, key)
        if not isinstance(value, list):
            self.fail(where, "must be an array of tables ([[" + where + "]])")
            return []
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]

    def _get(self, table: dict, path: str, key: str, default: Any) -> Any:
        if key in table:
            return table[key]
        if default is _MISSING:
            self.fail(_join(path, key), "required")
        return _MISSING

    def string(self, table: dict, path: str, key: str, default: Any = _MISSING, *,
               max_length: int | None = None, blank: bool = True) -> Any:
        value = self._get(table, path, key, default)
        if value is _MISSING:
            return default if default is not _MISSING else None
        if not isinstance(value, str):
            self.fail(_join(path, key), "must be a string")
            return None
        if limits.NUL in value:
            self.fail(_join(path, key), "must not contain a NUL character (\\u0000)")
            return None
        if not blank and not value.strip():
            self.fail(_join(path, key), "must not be empty")
            return None
        if max_length is not None and len(value) > max_length:
            self.fail(_join(path, key), f"must be at most {max_length} characters")
            return None
        return value

    def integer(self, table: dict, path: str, key: str, default: Any = _MISSING, *,
                minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._get(table, path, key, default)
        if value is _MISSING:
            return default if default is not _MISSING else None
        where = _join(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "must be a whole number")
            return None
        if minimum is not None and value < minimum:
            self.fail(where, "must not be negative" if minimum == 0
                      else f"must be at least {minimum}")
            return None
        maximum = MAX_INTEGER if maximum is None else maximum
        if value > maximum:
            self.fail(where, f"must be at most {maximum}")
            return None
        return value

    def number(self, table: dict, path: str, key: str, *, minimum: float, maximum: float
               ) -> Decimal | None:
        value = self._get(table, path, key, None)
        if value is _MISSING:
            return None
        where = _join(path, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, "must be a number")
            return None
        if not minimum <= value <= maximum:
            self.fail(where, f"must be between {minimum:g} and {maximum:g}")
            return None
        return Decimal(str(value)).quantize(Decimal("0.000001"))

    def boolean(self, table: dict, path: str, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.fail(_join(path, key), "must be true or false")
            return default
        return value

    def strings(self, table: dict, path: str, key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        where = _join(path, key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, "must be a list of strings")
            return ()
        for i, item in enumerate(value):
            if limits.NUL in item:
                self.fail(f"{where}[{i}]", "must not contain a NUL character (\\u0000)")
            elif not item.strip():
                self.fail(f"{where}[{i}]", "must not be empty")
            elif item in value[:i]:
                self.fail(f"{where}[{i}]", f"duplicate '{item}'")
        return tuple(value)

    def choice(self, table: dict, path: str, key: str, default: str,
               choices: tuple[str, ...]) -> str:
        value = table.get(key, default)
        if value not in choices:
            self.fail(_join(path, key),
                      "must be one of " + ", ".join(f"'{c}'" for c in choices))
            return default
        return value

    def email(self, table: dict, path: str, key: str = "email") -> str | None:
        value = self.string(table, path, key, max_length=254, blank=False)
        if value is None:
            return None
        try:
            validate_email(value)
        except ValidationError:
            self.fail(_join(path, key), "must be an email address")
            return None
        return value.strip().lower()

    def clock(self, table: dict, path: str, key: str, *, is_end: bool) -> time | None:
        """``"HH:MM"`` or a TOML local time; ``"24:00"`` (ends only) is midnight."""
        value = self._get(table, path, key, _MISSING)
        if value is _MISSING:
            return None
        where = _join(path, key)
        if isinstance(value, time):
            try:
                return limits.wall_clock_minute(value)
            except limits.OutOfRange as error:
                self.fail(where, error.message)
                return None
        if is_end and value == MIDNIGHT_END:
            return time(0, 0)
        match = CLOCK.match(value) if isinstance(value, str) else None
        if match and int(match[1]) < 24 and int(match[2]) < 60:
            return time(int(match[1]), int(match[2]))
        self.fail(where, "must be a time 'HH:MM'" + (" (or '24:00')" if is_end else ""))
        return None

    def day(self, table: dict, path: str, key: str) -> date | None:
        value = table.get(key)
        if value is None:
            return None
        where = _join(path, key)
        day = None
        if isinstance(value, date) and not isinstance(value, datetime):
            day = value
        elif isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                pass
        if day is None:
            self.fail(where, "must be a date 'YYYY-MM-DD'")
            return None
        try:
            return limits.local_date(day)
        except limits.OutOfRange as error:
            self.fail(where, error.message)
            return None

    def weekdays(self, table: dict, path: str) -> tuple[int, ...] | None:
        value = self._get(table, path, "weekdays", _MISSING)
        where = _join(path, "weekdays")
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list of weekdays ('mon'..'sun' or 1..7)")
            return None
        days: list[int] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item.strip().lower() in WEEKDAYS:
                number = WEEKDAYS[item.strip().lower()]
            elif isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 7:
                number = item
            else:
                self.fail(f"{where}[{i}]",
                          f"unknown weekday {item!r}; use 'mon'..'sun' or ISO 1 (Monday)..7 "
                          "(Sunday)")
                continue
            if number in days:
                self.fail(f"{where}[{i}]", f"duplicate weekday {item!r}")
                continue
            days.append(number)
        return tuple(sorted(days))


# --- the sections ------------------------------------------------------------------------------

STUDIO_KEYS = (
    "slug", "name", "time_zone", "currency", "address", "city", "latitude", "longitude",
    "description", "hold_minutes", "max_active_holds", "lead_time_minutes", "horizon_days",
    "slot_grid_minutes", "requires_approval", "max_unpaid_bookings", "max_unpaid_hours",
    "first_booking_rule", "hours",
)
HOURS_KEYS = ("weekdays", "start", "end", "overnight", "effective_from", "effective_to")
ROOM_KEYS = ("name", "description", "capacity", "tags", "equipment", "color", "active", "hours",
             "buffer_before", "buffer_after")
STAFF_KEYS = ("email", "name", "skills", "hourly_rate", "role", "password", "active", "hours",
              "buffer_before", "buffer_after")
SERVICE_KEYS = (
    "name", "description", "default_duration", "min_duration", "max_duration", "duration_step",
    "price_unit", "base_price", "requires_room", "room_tags", "requires_engineer",
    "staff_skill", "requires_approval", "deposit_percent", "active", "buffer_before",
    "buffer_after",
)
BLACKOUT_KEYS = ("target", "start", "end", "reason")
ADMIN_KEYS = ("email", "name", "password")
TAX_KEYS = ("name", "rate", "active")
FEE_KEYS = ("name", "kind", "amount", "percent", "taxable", "active")
TOP_KEYS = ("studio", "rooms", "staff", "services", "blackouts", "admins", "taxes", "fees")
MAX_BUFFER_MINUTES = 24 * 60


def _hours(reader: _Reader, parent: dict, path: str) -> tuple[HoursSpec, ...]:
    found = []
    for where, item in reader.tables(parent, path, "hours"):
        table = reader.table(item, where, HOURS_KEYS)
        if table is None:
            continue
        weekdays = reader.weekdays(table, where)
        start = reader.clock(table, where, "start", is_end=False)
        end = reader.clock(table, where, "end", is_end=True)
        overnight = reader.boolean(table, where, "overnight", False)
        effective_from = reader.day(table, where, "effective_from")
        effective_to = reader.day(table, where, "effective_to")
        if start is not None and end is not None:
            # "24:00" is midnight: a window ending at the end of its day, not past it.
            to_midnight = table.get("end") == MIDNIGHT_END
            if overnight and end > start:
                reader.fail(_join(where, "end"),
                            "must not be after start when overnight = true")
            elif not overnight and not to_midnight and end <= start:
                reader.fail(_join(where, "end"),
                            "must be after start (set overnight = true for a window that "
                            "runs past midnight)")
        if effective_from and effective_to and effective_to < effective_from:
            reader.fail(_join(where, "effective_to"), "must not be before effective_from")
        if weekdays and start is not None and end is not None:
            found.append(HoursSpec(weekdays, start, end, effective_from, effective_to))
    return tuple(found)


def _buffers(reader: _Reader, table: dict, path: str) -> tuple[int, int]:
    before = reader.integer(table, path, "buffer_before", 0, minimum=0,
                            maximum=MAX_BUFFER_MINUTES)
    after = reader.integer(table, path, "buffer_after", 0, minimum=0,
                           maximum=MAX_BUFFER_MINUTES)
    return before or 0, after or 0


def _limits(setting: str) -> dict[str, int]:
    low, high = SETTING_LIMITS[setting]
    return {"minimum": low, "maximum": high}


def _zone(reader: _Reader, table: dict) -> ZoneInfo | None:
    name = reader.string(table, "studio", "time_zone", max_length=64, blank=False)
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        reader.fail("studio.time_zone", f"unknown IANA time zone '{name}'")
        return None


def _studio(reader: _Reader, data: dict) -> tuple[str | None, dict, ZoneInfo | None, tuple]:
    if "studio" not in data:
        reader.fail("studio", "required")
        return None, {}, None, ()
    table = reader.table(data["studio"], "studio", STUDIO_KEYS)
    if table is None:
        return None, {}, None, ()
    p = "studio"
    slug = reader.string(table, p, "slug", max_length=64, blank=False)
    if slug is not None and not SLUG.match(slug):
        reader.fail("studio.slug", "must be a slug (letters, digits, '-' and '_')")
        slug = None
    zone = _zone(reader, table)
    currency = reader.string(table, p, "currency", "CAD")
    if currency is not None and not CURRENCY.match(currency):
        reader.fail("studio.currency", "must be 3 uppercase letters (ISO 4217), e.g. 'CAD'")
    settings = {
        "name": reader.string(table, p, "name", max_length=200, blank=False),
        "time_zone": zone.key if zone else None,
        "currency": currency,
        "address": reader.string(table, p, "address", "", max_length=300),
        "city": reader.string(table, p, "city", "", max_length=100),
        "latitude": reader.number(table, p, "latitude", minimum=-90, maximum=90),
        "longitude": reader.number(table, p, "longitude", minimum=-180, maximum=180),
        "description": reader.string(table, p, "description", ""),
        "hold_minutes": reader.integer(table, p, "hold_minutes", 10, **_limits("hold_minutes")),
        "max_active_holds": reader.integer(table, p, "max_active_holds", 3,
                                           **_limits("max_active_holds")),
        "lead_time_minutes": reader.integer(table, p, "lead_time_minutes", 120,
                                            **_limits("lead_time_minutes")),
        "horizon_days": reader.integer(table, p, "horizon_days", 90, **_limits("horizon_days")),
        "slot_grid_minutes": reader.integer(table, p, "slot_grid_minutes", 15,
                                            **_limits("slot_grid_minutes")),
        "requires_approval": reader.boolean(table, p, "requires_approval", False),
        "max_unpaid_bookings": reader.integer(table, p, "max_unpaid_bookings", 4,
                                              **_limits("max_unpaid_bookings")),
        "max_unpaid_hours": reader.integer(table, p, "max_unpaid_hours", 12,
                                           **_limits("max_unpaid_hours")),
        "first_booking_rule": reader.choice(table, p, "first_booking_rule", "none",
                                            SETTING_CHOICES["first_booking_rule"]),
    }
    hours = _hours(reader, table, p)
    if "hours" not in table:
        reader.fail("studio.hours", "required (a studio without hours is always closed)")
    return slug, settings, zone, hours


def _unique(reader: _Reader, seen: dict[str, str], key: str | None, where: str) -> None:
    if key is None:
        return
    if key in seen:
        reader.fail(where, f"duplicate of {seen[key]}")
    else:
        seen[key] = where


def _rooms(reader: _Reader, data: dict) -> tuple[RoomSpec, ...]:
    rooms, seen = [], {}
    for where, item in reader.tables(data, "", "rooms"):
        table = reader.table(item, where, ROOM_KEYS)
        if table is None:
            continue
        name = reader.string(table, where, "name", max_length=120, blank=False)
        _unique(reader, seen, name, _join(where, "name"))
        before, after = _buffers(reader, table, where)
        room = RoomSpec(
            name=name,
            description=reader.string(table, where, "description", ""),
            capacity=reader.integer(table, where, "capacity", 1, minimum=1),
            tags=reader.strings(table, where, "tags"),
            equipment=reader.strings(table, where, "equipment"),
            color=reader.string(table, where, "color", "", max_length=16),
            is_active=reader.boolean(table, where, "active", True),
            hours=_hours(reader, table, where),
            buffer_before=before,
            buffer_after=after,
        )
        rooms.append(room)
    return tuple(rooms)


def _staff(reader: _Reader, data: dict) -> tuple[StaffSpec, ...]:
    staff, seen = [], {}
    for where, item in reader.tables(data, "", "staff"):
        table = reader.table(item, where, STAFF_KEYS)
        if table is None:
            continue
        email = reader.email(table, where)
        _unique(reader, seen, email, _join(where, "email"))
        before, after = _buffers(reader, table, where)
        staff.append(StaffSpec(
            email=email,
            name=reader.string(table, where, "name", max_length=150, blank=False),
            skills=reader.strings(table, where, "skills"),
            hourly_rate_minor=reader.integer(table, where, "hourly_rate", 0, minimum=0),
            role=reader.choice(table, where, "role", Membership.Role.STAFF,
                               tuple(Membership.Role.values)),
            password=reader.string(table, where, "password", None, blank=False),
            is_active=reader.boolean(table, where, "active", True),
            hours=_hours(reader, table, where),
            buffer_before=before,
            buffer_after=after,
        ))
    return tuple(staff)


def _services(reader: _Reader, data: dict, rooms: tuple[RoomSpec, ...],
              staff: tuple[StaffSpec, ...]) -> tuple[ServiceSpec, ...]:
    services, seen = [], {}
    for where, item in reader.tables(data, "", "services"):
        table = reader.table(item, where, SERVICE_KEYS)
        if table is None:
            continue
        name = reader.string(table, where, "name", max_length=120, blank=False)
        _unique(reader, seen, name, _join(where, "name"))
        step = reader.integer(table, where, "duration_step", 60, minimum=1)
        minimum = reader.integer(table, where, "min_duration", 60, minimum=1)
        maximum = reader.integer(table, where, "max_duration", 480, minimum=1)
        default = reader.integer(table, where, "default_duration", 60, minimum=1)
        if None not in (minimum, maximum) and maximum < minimum:
            reader.fail(_join(where, "max_duration"),
                        f"must not be less than min_duration ({minimum})")
        elif None not in (minimum, maximum, default) and not minimum <= default <= maximum:
            reader.fail(_join(where, "default_duration"),
                        f"must be between min_duration ({minimum}) and max_duration "
                        f"({maximum})")
        if step:
            for key, value in (("min_duration", minimum), ("max_duration", maximum),
                               ("default_duration", default)):
                if value and value % step:
                    reader.fail(_join(where, key),
                                f"must be a multiple of duration_step ({step})")
        requires_room = reader.boolean(table, where, "requires_room", True)
        room_tags = reader.strings(table, where, "room_tags")
        requires_engineer = reader.boolean(table, where, "requires_engineer", False)
        skill = reader.string(table, where, "staff_skill", "", max_length=64)
        if room_tags and not requires_room:
            reader.fail(_join(where, "room_tags"), "only allowed when requires_room = true")
        elif requires_room and not any(r.is_active and set(room_tags) <= set(r.tags)
                                       for r in rooms):
            reader.fail(_join(where, "room_tags") if room_tags else _join(where, "requires_room"),
                        f"no active room in this file has the tags {list(room_tags)}"
                        if room_tags else "no active room in this file")
        if skill and not requires_engineer:
            reader.fail(_join(where, "staff_skill"),
                        "only allowed when requires_engineer = true")
        elif requires_engineer and not any(s.is_active and (not skill or skill in s.skills)
                                           for s in staff):
            reader.fail(_join(where, "staff_skill") if skill
                        else _join(where, "requires_engineer"),
                        f"no active staff member in this file has the skill '{skill}'"
                        if skill else "no active staff member in this file")
        before, after = _buffers(reader, table, where)
        services.append(ServiceSpec(
            name=name,
            description=reader.string(table, where, "description", ""),
            default_duration=default, min_duration=minimum, max_duration=maximum,
            duration_step=step,
            price_unit=reader.choice(table, where, "price_unit", Service.PriceUnit.HOUR,
                                     tuple(Service.PriceUnit.values)),
            base_price_minor=reader.integer(table, where, "base_price", 0, minimum=0),
            requires_room=requires_room, room_tags=room_tags,
            requires_engineer=requires_engineer, staff_skill=skill or "",
            requires_approval=reader.boolean(table, where, "requires_approval", False),
            deposit_percent=reader.integer(table, where, "deposit_percent", 0, minimum=0,
                                           maximum=100),
            is_active=reader.boolean(table, where, "active", True),
            buffer_before=before, buffer_after=after,
        ))
    return tuple(services)


def to_utc(local: datetime, zone: tzinfo, *, is_end: bool) -> datetime | None:
    """A wall-clock ``local`` in ``zone`` as a UTC instant, or None when the clocks skip it.

    An ambiguous time (clocks going back) takes the earlier instant for a start and the later
    for an end, so that a blackout is never shorter than its wall clock says. This differs on
    purpose from ``scheduling._time.resolve_local`` for working-hour windows (an end exactly
    where the clock falls back is its first occurrence there): a blackout errs long, working
    hours err short. Aware datetimes
    are converted as they are.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    candidates = []
    for fold in (0, 1):
        instant = local.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == local:
            candidates.append(instant)
    if not candidates:
        return None
    return max(candidates) if is_end else min(candidates)


def _instant(reader: _Reader, table: dict, where: str, key: str, zone: ZoneInfo | None, *,
             is_end: bool) -> datetime | None:
    value = reader._get(table, where, key, _MISSING)
    if value is _MISSING:
        return None
    path = _join(where, key)
    local: datetime | None = None
    if isinstance(value, datetime):
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            local = None
    if local is None:
        reader.fail(path, "must be a local date-time 'YYYY-MM-DDTHH:MM' (or with a UTC "
                          "offset, or a date 'YYYY-MM-DD' for midnight)")
        return None
    if local.tzinfo is None and zone is None:
        return None  # the zone's own problem is reported on studio.time_zone
    if not limits.EARLIEST_DATE <= local.date() <= limits.LATEST_DATE:
        # Checked before converting: year 1 at +14:00 does not even convert to UTC.
        reader.fail(path, f"must be {limits.INSTANT_RANGE}")
        return None
    instant = to_utc(local, zone, is_end=is_end)
    if instant is None:
        reader.fail(path, f"{local.isoformat(timespec='minutes')} does not exist in "
                          f"{zone.key} (the clocks skip it)")
    elif not limits.is_instant_in_range(instant):
        reader.fail(path, f"must be {limits.INSTANT_RANGE}")
        return None
    return instant


def _blackouts(reader: _Reader, data: dict, zone: ZoneInfo | None,
               rooms: tuple[RoomSpec, ...], staff: tuple[StaffSpec, ...]
               ) -> tuple[BlackoutSpec, ...]:
    room_names = {r.name for r in rooms}
    staff_emails = {s.email for s in staff}
    blackouts = []
    for where, item in reader.tables(data, "", "blackouts"):
        table = reader.table(item, where, BLACKOUT_KEYS)
        if table is None:
            continue
        target = reader.string(table, where, "target", "studio")
        target_type, target_key = None, None
        if target == "studio":
            target_type = Target.STUDIO
        elif isinstance(target, str) and target.startswith("room:"):
            target_type, target_key = Target.ROOM, target[len("room:"):]
            if target_key not in room_names:
                reader.fail(_join(where, "target"), f"no room named '{target_key}' in this file")
        elif isinstance(target, str) and target.startswith("staff:"):
            target_type, target_key = Target.STAFF, target[len("staff:"):].strip().lower()
            if target_key not in staff_emails:
                reader.fail(_join(where, "target"),
                            f"no staff member with email '{target_key}' in this file")
        elif target is not None:
            reader.fail(_join(where, "target"),
                        "must be 'studio', 'room:NAME' or 'staff:EMAIL'")
        start = _instant(reader, table, where, "start", zone, is_end=False)
        end = _instant(reader, table, where, "end", zone, is_end=True)
        if start is not None and end is not None and end <= start:
            reader.fail(_join(where, "end"), "must be after start")
        reason = reader.string(table, where, "reason", "", max_length=200)
        if target_type and start and end:
            blackouts.append(BlackoutSpec(target_type, target_key, start, end, reason or ""))
    return tuple(blackouts)


def _admins(reader: _Reader, data: dict) -> tuple[AdminSpec, ...]:
    admins, seen = [], {}
    for where, item in reader.tables(data, "", "admins"):
        table = reader.table(item, where, ADMIN_KEYS)
        if table is None:
            continue
        email = reader.email(table, where)
        _unique(reader, seen, email, _join(where, "email"))
        admins.append(AdminSpec(
            email=email,
            name=reader.string(table, where, "name", "", max_length=150),
            password=reader.string(table, where, "password", None, blank=False),
        ))
    return tuple(admins)


def _percent_text(reader: _Reader, table: dict, where: str, key: str) -> str | None:
    """A percentage written as a string (``"9.975"``, exact) or a TOML number (``9.975``,
    read through its shortest decimal form), as text for ``scheduling.money``'s parsers."""
    value = table.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    reader.fail(_join(where, key), "required" if value is None
                else 'must be a percentage such as "9.975"')
    return None


def _service_check(reader: _Reader, model, data: dict, where: str, keys: dict[str, str]
                   ) -> bool:
    """Run the studio service's own checks (``studios.services.CHECKS``: the limits of the
    pricing core), reporting a failure at the file's key (``keys`` maps service field names
    to file keys)."""
    try:
        for check in CHECKS[model]:
            check(data, None)
    except InvalidInput as error:
        reader.fail(_join(where, keys.get(error.field or "", "name")), error.message)
        return False
    return True


def _taxes(reader: _Reader, data: dict) -> tuple[TaxSpec, ...] | None:
    if "taxes" not in data:
        return None
    taxes, seen = [], {}
    for where, item in reader.tables(data, "", "taxes"):
        table = reader.table(item, where, TAX_KEYS)
        if table is None:
            continue
        name = reader.string(table, where, "name", max_length=64, blank=False)
        _unique(reader, seen, name, _join(where, "name"))
        text = _percent_text(reader, table, where, "rate")
        is_active = reader.boolean(table, where, "active", True)
        if text is None:
            continue
        try:
            rate_ppm = money.ppm_from_percent(text, field="rate")
        except money.InvalidMoney as error:
            reader.fail(_join(where, "rate"), str(error).split(": ", 1)[-1])
            continue
        if _service_check(reader, TaxRate, {"rate_ppm": rate_ppm}, where,
                          {"rate_ppm": "rate"}) and name:
            taxes.append(TaxSpec(name=name, rate_ppm=rate_ppm, is_active=is_active))
    return tuple(taxes)


def _fees(reader: _Reader, data: dict) -> tuple[FeeSpec, ...] | None:
    if "fees" not in data:
        return None
    fees, seen = [], {}
    for where, item in reader.tables(data, "", "fees"):
        table = reader.table(item, where, FEE_KEYS)
        if table is None:
            continue
        name = reader.string(table, where, "name", max_length=64, blank=False)
        _unique(reader, seen, name, _join(where, "name"))
        kind = reader.choice(table, where, "kind", Fee.Kind.FIXED, tuple(Fee.Kind.values))
        is_taxable = reader.boolean(table, where, "taxable", True)
        is_active = reader.boolean(table, where, "active", True)
        wrong = "percent" if kind == Fee.Kind.FIXED else "amount"
        if wrong in table:
            reader.fail(_join(where, wrong), f"not for a {kind} fee (use "
                        f"{'amount, in minor units' if kind == Fee.Kind.FIXED else 'percent'})")
            continue
        if kind == Fee.Kind.FIXED:
            amount = reader.integer(table, where, "amount", minimum=0,
                                    maximum=money.MAX_FIXED_FEE_MINOR)
            key = "amount"
        else:
            text = _percent_text(reader, table, where, "percent")
            amount, key = None, "percent"
            if text is not None:
                try:
                    amount = money.basis_points_from_decimal(text, field="percent")
                except money.InvalidMoney as error:
                    reader.fail(_join(where, "percent"), str(error).split(": ", 1)[-1])
        if amount is None:
            continue
        if _service_check(reader, Fee, {"kind": kind, "amount": amount}, where,
                          {"amount": key, "kind": "kind"}) and name:
            fees.append(FeeSpec(name=name, kind=kind, amount=amount, is_taxable=is_taxable,
                                is_active=is_active))
    return tuple(fees)


def parse_studio_data(data: dict, source: str = "studio file") -> StudioSpec:
    """Validate parsed TOML. Raises StudioFileError listing every problem."""
    reader = _Reader()
    reader.table(data, "", TOP_KEYS)
    slug, settings, zone, hours = _studio(reader, data)
    rooms = _rooms(reader, data)
    staff = _staff(reader, data)
    services = _services(reader, data, rooms, staff)
    blackouts = _blackouts(reader, data, zone, rooms, staff)
    admins = _admins(reader, data)
    taxes = _taxes(reader, data)
    fees = _fees(reader, data)
    if reader.problems:
        raise StudioFileError(reader.problems, source)
    return StudioSpec(slug=slug, settings=settings, hours=hours, rooms=rooms, staff=staff,
                      services=services, blackouts=blackouts, admins=admins, taxes=taxes,
                      fees=fees)


def parse_studio_toml(text: str, source: str = "studio file") -> StudioSpec:
    """Parse and validate TOML text. Raises StudioFileError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudioFileError([f"invalid TOML: {error}"], source) from error
    return parse_studio_data(data, source)


def parse_studio_file(path: str | Path) -> StudioSpec:
    """Read, parse and validate a studio file. Raises StudioFileError (also for a missing or
    unreadable file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StudioFileError([f"cannot read the file: {error}"], str(path)) from error
    return parse_studio_toml(text, str(path))


# --- writing -------------------------------------------------------------------------------------

def _user(email: str, name: str, password: str | None):
    """Get or create the user with this email (lowercase). A new user gets ``password`` (or an
    unusable one); an existing user keeps theirs, and gets ``name`` only if they had none."""
    User = get_user_model()
    user = User.objects.filter(email=email).first()
    if user is None:
        return User.objects.create_user(email=email, password=password, name=name)
    if name and not user.name:
        user.name = name
        user.save(update_fields=["name"])
    return user


def _retire(rows) -> int:
    """Delete rows no longer in the file; ones that bookings or holds still point at are
    deactivated instead. Returns how many were deactivated."""
    kept = 0
    for row in rows:
        try:
            with transaction.atomic():
                row.delete()
        except ProtectedError:
            row.is_active = False
            row.save(update_fields=["is_active"])
            kept += 1
    return kept


def _rules(studio: Studio, hours: tuple[HoursSpec, ...], **target) -> list[ScheduleRule]:
    kind = Target.ROOM if "room" in target else Target.STAFF if "staff" in target \
        else Target.STUDIO
    return [
        ScheduleRule(studio=studio, target_type=kind, weekdays=list(h.weekdays),
                     start_time=h.start, end_time=h.end, effective_from=h.effective_from,
                     effective_to=h.effective_to, **target)
        for h in hours
    ]


def write_studio(spec: StudioSpec, *, replace: bool = False, actor=None,
                 source: str = "") -> ImportResult:
    """Write ``spec`` in one durable transaction and audit it as ``studio.import``.

    A new slug creates the studio. An existing slug raises StudioFileError unless
    ``replace``: then the studio's settings are updated; rooms and services are matched by
    name and staff by email (updated in place, so bookings keep pointing at them); ones no
    longer in the file are deleted, or deactivated when bookings or holds refer to them; all
    schedule rules, blackouts and buffer rules are replaced by the file's. Memberships of
    people in the file are set; other memberships are left alone.
    """
    with transaction.atomic(durable=True):
        studio = Studio.objects.select_for_update().filter(slug=spec.slug).first()
        created = studio is None
        if not created and not replace:
            raise StudioFileError([f"studio.slug: studio '{spec.slug}' exists; use --replace"],
                                  source or "studio file")
        if created:
            studio = Studio.objects.create(slug=spec.slug, **spec.settings)
        else:
            for name, value in spec.settings.items():
                setattr(studio, name, value)
            studio.save()
            ScheduleRule.objects.filter(studio=studio).delete()
            Blackout.objects.filter(studio=studio).delete()
            BufferRule.objects.filter(studio=studio).delete()

        rooms: dict[str, Room] = {}
        for room_spec in spec.rooms:
            room, _ = Room.objects.update_or_create(
                studio=studio, name=room_spec.name,
                defaults={"description": room_spec.description,
                          "capacity": room_spec.capacity, "tags": list(room_spec.tags),
                          "equipment": list(room_spec.equipment), "color": room_spec.color,
                          "is_active": room_spec.is_active})
            rooms[room.name] = room
        deactivated = _retire(Room.objects.filter(studio=studio).exclude(name__in=rooms))

        memberships: dict[int, str] = {}
        staff: dict[str, StaffMember] = {}
        for staff_spec in spec.staff:
            user = _user(staff_spec.email, staff_spec.name, staff_spec.password)
            member, _ = StaffMember.objects.update_or_create(
                studio=studio, user=user,
                defaults={"display_name": staff_spec.name, "skills": list(staff_spec.skills),
                          "hourly_rate_minor": staff_spec.hourly_rate_minor,
                          "is_active": staff_spec.is_active})
            staff[staff_spec.email] = member
            memberships[user.id] = staff_spec.role
        deactivated += _retire(StaffMember.objects.filter(studio=studio)
                               .exclude(id__in=[m.id for m in staff.values()]))
        for admin_spec in spec.admins:
            user = _user(admin_spec.email, admin_spec.name, admin_spec.password)
            memberships[user.id] = Membership.Role.ADMIN  # admin wins over a staff listing
        for user_id, role in memberships.items():
            Membership.objects.update_or_create(studio=studio, user_id=user_id,
                                                defaults={"role": role})

        services: dict[str, Service] = {}
        for service_spec in spec.services:
            service, _ = Service.objects.update_or_create(
                studio=studio, name=service_spec.name,
                defaults={
                    "description": service_spec.description,
                    "default_duration_minutes": service_spec.default_duration,
                    "min_duration_minutes": service_spec.min_duration,
                    "max_duration_minutes": service_spec.max_duration,
                    "duration_step_minutes": service_spec.duration_step,
                    "price_unit": service_spec.price_unit,
                    "base_price_minor": service_spec.base_price_minor,
                    "requires_room": service_spec.requires_room,
                    "room_tags": list(service_spec.room_tags),
                    "requires_engineer": service_spec.requires_engineer,
                    "staff_skill_required": service_spec.staff_skill,
                    "requires_approval": service_spec.requires_approval,
                    "deposit_percent": service_spec.deposit_percent,
                    "is_active": service_spec.is_active,
                })
            services[service.name] = service
        deactivated += _retire(Service.objects.filter(studio=studio)
                               .exclude(name__in=services))

        rules = _rules(studio, spec.hours)
        for room_spec in spec.rooms:
            rules += _rules(studio, room_spec.hours, room=rooms[room_spec.name])
        for staff_spec in spec.staff:
            rules += _rules(studio, staff_spec.hours, staff=staff[staff_spec.email])
        ScheduleRule.objects.bulk_create(rules)

        buffers = []
        for scope, specs, targets, key in (
            (BufferRule.Scope.ROOM, spec.rooms, rooms, "name"),
            (BufferRule.Scope.STAFF, spec.staff, staff, "email"),
            (BufferRule.Scope.SERVICE, spec.services, services, "name"),
        ):
            for item in specs:
                if item.buffer_before or item.buffer_after:
                    buffers.append(BufferRule(
                        studio=studio, scope=scope, before_minutes=item.buffer_before,
                        after_minutes=item.buffer_after,
                        **{scope: targets[getattr(item, key)]}))
        BufferRule.objects.bulk_create(buffers)

        Blackout.objects.bulk_create([
            Blackout(studio=studio, target_type=b.target_type,
                     room=rooms[b.target_key] if b.target_type == Target.ROOM else None,
                     staff=staff[b.target_key] if b.target_type == Target.STAFF else None,
                     start_at=b.start_at, end_at=b.end_at, reason=b.reason)
            for b in spec.blackouts
        ])

        counts = {"rooms": len(rooms), "staff": len(staff), "services": len(services),
                  "schedule rules": len(rules), "blackouts": len(spec.blackouts),
                  "buffer rules": len(buffers), "admins": len(spec.admins)}
        # Taxes and fees: nothing points at them (a booking keeps its own price snapshot), so
        # a file that lists them replaces the studio's; a file without the key keeps them.
        if spec.taxes is not None:
            TaxRate.objects.filter(studio=studio).delete()
            TaxRate.objects.bulk_create([
                TaxRate(studio=studio, name=t.name, rate_ppm=t.rate_ppm, is_active=t.is_active)
                for t in spec.taxes])
            counts["taxes"] = len(spec.taxes)
        if spec.fees is not None:
            Fee.objects.filter(studio=studio).delete()
            Fee.objects.bulk_create([
                Fee(studio=studio, name=f.name, kind=f.kind, amount=f.amount,
                    is_taxable=f.is_taxable, is_active=f.is_active)
                for f in spec.fees])
            counts["fees"] = len(spec.fees)
        if deactivated:
            counts["deactivated"] = deactivated
        audit.record(studio=studio, actor=actor, action="studio.import", entity="studio",
                     entity_id=studio.slug,
                     diff={"created": created, "replace": replace, "source": source,
                           "counts": counts})
    return ImportResult(studio=studio, created=created, counts=counts)


def import_studio_file(path: str | Path, *, replace: bool = False, actor=None
                       ) -> ImportResult:
    """Validate the file, then write it (see ``write_studio``). Raises StudioFileError."""
    spec = parse_studio_file(path)
    return write_studio(spec, replace=replace, actor=actor, source=str(path))

