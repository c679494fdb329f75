"""The TOML studio importer: the shipped demo file, each validation rule, and --replace."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

import studiobook
from studiobook.accounts.models import User
from studiobook.bookings.models import Booking
from studiobook.studios.demo import load_demo
from studiobook.studios.importer import (
    StudioFileError,
    import_studio_file,
    parse_studio_toml,
)
from studiobook.studios.models import (
    AuditLog,
    Blackout,
    BufferRule,
    Membership,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
)

DEMO_FILE = Path(studiobook.__file__).parent / "demo" / "studio.toml"
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in Toronto

MINIMAL = """\
[studio]
slug = "tiny"
name = "Tiny Studio"
time_zone = "America/Toronto"

[[studio.hours]]
weekdays = ["mon", "tue"]
start = "10:00"
end = "18:00"

[[rooms]]
name = "Room 1"
tags = ["tracking"]

[[staff]]
email = "eng@example.com"
name = "Eng"
skills = ["recording"]

[[services]]
name = "Session"
room_tags = ["tracking"]
requires_engineer = true
staff_skill = "recording"
"""


def row_counts() -> dict[str, int]:
    models = (Studio, Room, StaffMember, Service, ScheduleRule, Blackout, BufferRule,
              Membership, User, AuditLog)
    return {model.__name__: model.objects.count() for model in models}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "studio.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_file_imports_every_section(db):
    result = import_studio_file(DEMO_FILE)

    assert result.created is True
    assert row_counts() == {
        "Studio": 1, "Room": 3, "StaffMember": 4, "Service": 5, "ScheduleRule": 7,
        "Blackout": 4, "BufferRule": 2, "Membership": 5, "User": 5, "AuditLog": 1,
    }
    studio = Studio.objects.get()
    assert (studio.slug, studio.name, studio.time_zone, studio.currency) == (
        "northside", "Northside Sound", "America/Toronto", "CAD")
    assert (studio.latitude, studio.longitude) == (Decimal("43.649210"), Decimal("-79.421590"))
    assert (studio.hold_minutes, studio.max_active_holds, studio.lead_time_minutes,
            studio.horizon_days, studio.slot_grid_minutes, studio.requires_approval) == (
        10, 3, 120, 365, 15, False)
    assert [r.name for r in Room.objects.all()] == ["Studio A", "Studio B", "Vocal Booth"]
    assert Room.objects.get(name="Vocal Booth").tags == ["vocal", "podcast"]

    # Weekday names and ISO numbers both become ISO numbers.
    rules = {(r.staff.user.email if r.staff else r.target_type): r
             for r in ScheduleRule.objects.filter(target_type="staff").exclude(
                 staff__user__email="sam.leblanc@studiobook.test")}
    assert rules["theo.okafor@studiobook.test"].weekdays == [2, 3, 4, 5, 6]
    assert rules["priya.nair@studiobook.test"].weekdays == [6, 7]
    assert (rules["theo.okafor@studiobook.test"].start_time,
            rules["theo.okafor@studiobook.test"].end_time) == (time(17, 0), time(23, 0))
    sam = [(r.weekdays, r.start_time, r.end_time, r.effective_from, r.effective_to)
           for r in ScheduleRule.objects.filter(staff__user__email="sam.leblanc@studiobook.test")]
    assert sam == [
        ([1, 2, 3], time(9, 0), time(17, 0), None, date(2027, 1, 31)),
        ([3, 4, 5], time(12, 0), time(20, 0), date(2027, 2, 1), None),
    ]
    assert list(ScheduleRule.objects.filter(target_type="studio")
                .values_list("weekdays", "start_time", "end_time")) == [
        ([1, 2, 3, 4, 5], time(9, 0), time(23, 0)),
        ([6, 7], time(10, 0), time(20, 0)),
    ]

    # Local midnight in Toronto (EST, UTC-5) is 05:00 UTC.
    christmas = Blackout.objects.get(reason="Christmas")
    assert (christmas.target_type, christmas.start_at, christmas.end_at) == (
        "studio", datetime(2026, 12, 25, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 27, 5, 0, tzinfo=UTC))
    maintenance = Blackout.objects.get(reason="Console maintenance")
    assert (maintenance.room.name, maintenance.start_at) == (
        "Studio B", datetime(2027, 1, 11, 14, 0, tzinfo=UTC))
    vacation = Blackout.objects.get(reason="Vacation")
    assert vacation.staff.user.email == "theo.okafor@studiobook.test"

    assert sorted(
        (b.scope, str(b.room or b.service or b.staff), b.before_minutes, b.after_minutes)
        for b in BufferRule.objects.all()
    ) == [("room", "Studio A", 0, 15), ("service", "Full-day lockout", 0, 30)]

    lockout = Service.objects.get(name="Full-day lockout")
    assert (lockout.price_unit, lockout.base_price_minor, lockout.requires_approval,
            lockout.deposit_percent, lockout.requires_engineer, lockout.room_tags) == (
        "session", 90000, True, 50, False, ["tracking"])
    mastering = Service.objects.get(name="Remote mastering")
    assert (mastering.requires_room, mastering.requires_engineer,
            mastering.staff_skill_required) == (False, True, "mastering")
    recording = Service.objects.get(name="Recording session")
    assert (recording.default_duration_minutes, recording.min_duration_minutes,
            recording.max_duration_minutes, recording.duration_step_minutes) == (240, 120, 600, 60)

    assert dict(Membership.objects.values_list("user__email", "role")) == {
        "maya.chen@studiobook.test": "staff",
        "theo.okafor@studiobook.test": "staff",
        "priya.nair@studiobook.test": "staff",
        "sam.leblanc@studiobook.test": "admin",
        "admin@studiobook.test": "admin",
    }
    maya = User.objects.get(email="maya.chen@studiobook.test")
    assert (maya.name, maya.check_password("studiobook-staff")) == ("Maya Chen", True)
    assert StaffMember.objects.get(user=maya).hourly_rate_minor == 4500
    audit = AuditLog.objects.get()
    assert (audit.action, audit.entity, audit.entity_id, audit.actor) == (
        "studio.import", "studio", "northside", None)
    assert audit.diff["counts"] == result.counts


def test_existing_users_are_reused_by_lowercase_email(db, tmp_path):
    existing = User.objects.create_user(email="eng@example.com", password="old-password-1",
                                        name="Already Here")
    text = MINIMAL.replace('email = "eng@example.com"', 'email = "Eng@Example.COM"')
    text = text.replace('skills = ["recording"]', 'skills = ["recording"]\npassword = "new-pw-1"')

    import_studio_file(write(tmp_path, text))

    member = StaffMember.objects.get()
    assert member.user_id == existing.id
    existing.refresh_from_db()
    assert (existing.name, existing.check_password("old-password-1")) == ("Already Here", True)
    assert User.objects.count() == 1


def test_minimal_file_uses_documented_defaults(db, tmp_path):
    import_studio_file(write(tmp_path, MINIMAL))

    studio = Studio.objects.get()
    assert (studio.currency, studio.hold_minutes, studio.max_active_holds,
            studio.lead_time_minutes, studio.horizon_days, studio.slot_grid_minutes) == (
        "CAD", 10, 3, 120, 90, 15)
    assert (studio.max_unpaid_bookings, studio.max_unpaid_hours,
            studio.first_booking_rule) == (4, 12, "none")
    service = Service.objects.get()
    assert (service.default_duration_minutes, service.min_duration_minutes,
            service.max_duration_minutes, service.duration_step_minutes, service.price_unit,
            service.base_price_minor, service.requires_room, service.deposit_percent) == (
        60, 60, 480, 60, "hour", 0, True, 0)
    room = Room.objects.get()
    assert (room.capacity, room.is_active, room.equipment) == (1, True, [])
    user = User.objects.get()
    assert user.has_usable_password() is False
    assert Membership.objects.get().role == "staff"


def test_overnight_and_midnight_windows(db, tmp_path):
    text = MINIMAL + """
[[rooms.hours]]
weekdays = ["fri"]
start = "20:00"
end = "02:00"
overnight = true

[[rooms.hours]]
weekdays = ["sat"]
start = "12:00"
end = "24:00"
"""
    import_studio_file(write(tmp_path, text))

    assert list(ScheduleRule.objects.filter(target_type="room")
                .values_list("weekdays", "start_time", "end_time")) == [
        ([5], time(20, 0), time(2, 0)),
        ([6], time(12, 0), time(0, 0)),
    ]


def test_blackouts_at_dst_changes(db, tmp_path):
    # 2026-11-01 01:30 happens twice in Toronto: a start takes the first (EDT), an end the
    # second (EST), so the blackout is never shorter than its wall clock says.
    text = MINIMAL + """
[[blackouts]]
start = "2026-11-01T01:30"
end = "2026-11-01T01:30"
reason = "repeated hour"

[[blackouts]]
target = "staff:ENG@example.com"
start = 2026-12-24
end = "2026-12-24T12:00:00-05:00"
"""
    import_studio_file(write(tmp_path, text))

    assert list(Blackout.objects.values_list("target_type", "start_at", "end_at")) == [
        ("studio", datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
         datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("staff", datetime(2026, 12, 24, 5, 0, tzinfo=UTC),
         datetime(2026, 12, 24, 17, 0, tzinfo=UTC)),
    ]


BAD_FILES = [
    pytest.param(
        MINIMAL.replace('name = "Tiny Studio"', 'name = "Tiny Studio"\nhold_minute = 5'),
        ["studio.hold_minute: unknown key; did you mean 'hold_minutes'?"],
        id="unknown-key",
    ),
    pytest.param(
        MINIMAL + '\n[[rooms]]\nname = "Room 2"\ncolour = "#fff"\n',
        ["rooms[1].colour: unknown key; did you mean 'color'?"],
        id="unknown-key-in-array",
    ),
    pytest.param(
        MINIMAL + '\n[extras]\nfoo = 1\n',
        ["extras: unknown key"],
        id="unknown-section",
    ),
    pytest.param(
        MINIMAL.replace("America/Toronto", "America/Torono"),
        ["studio.time_zone: unknown IANA time zone 'America/Torono'"],
        id="zone",
    ),
    pytest.param(
        MINIMAL.replace('time_zone = "America/Toronto"',
                        'time_zone = "America/Toronto"\ncurrency = "cad"'),
        ["studio.currency: must be 3 uppercase letters (ISO 4217), e.g. 'CAD'"],
        id="currency",
    ),
    pytest.param(
        MINIMAL + """
[[rooms]]
name = "Room 2"

[[rooms.hours]]
weekdays = ["mon"]
start = "18:00"
end = "10:00"
""",
        ["rooms[1].hours[0].end: must be after start (set overnight = true for a window "
         "that runs past midnight)"],
        id="end-before-start",
    ),
    pytest.param(
        MINIMAL.replace('end = "18:00"', 'end = "18:00"\neffective_from = 2027-02-01\n'
                                         'effective_to = "2027-01-31"'),
        ["studio.hours[0].effective_to: must not be before effective_from"],
        id="effective-dates",
    ),
    pytest.param(
        MINIMAL.replace('weekdays = ["mon", "tue"]', 'weekdays = ["mon", "tues", 0, 7, "MON"]'),
        ["studio.hours[0].weekdays[1]: unknown weekday 'tues'; use 'mon'..'sun' or ISO "
         "1 (Monday)..7 (Sunday)",
         "studio.hours[0].weekdays[2]: unknown weekday 0; use 'mon'..'sun' or ISO "
         "1 (Monday)..7 (Sunday)",
         "studio.hours[0].weekdays[4]: duplicate weekday 'MON'"],
        id="weekdays",
    ),
    pytest.param(
        MINIMAL.replace('start = "10:00"', 'start = "25:00"'),
        ["studio.hours[0].start: must be a time 'HH:MM'"],
        id="time",
    ),
    pytest.param(
        MINIMAL + '\n[[blackouts]]\ntarget = "room:Room 9"\nstart = "2026-12-25T00:00"\n'
                  'end = "2026-12-26T00:00"\n',
        ["blackouts[0].target: no room named 'Room 9' in this file"],
        id="unknown-room",
    ),
    pytest.param(
        MINIMAL + '\n[[blackouts]]\ntarget = "staff:nobody@example.com"\n'
                  'start = "2026-12-25T00:00"\nend = "2026-12-26T00:00"\n',
        ["blackouts[0].target: no staff member with email 'nobody@example.com' in this file"],
        id="unknown-staff",
    ),
    pytest.param(
        MINIMAL + '\n[[blackouts]]\ntarget = "desk"\nstart = "2026-12-26T00:00"\n'
                  'end = "2026-12-25T00:00"\n',
        ["blackouts[0].target: must be 'studio', 'room:NAME' or 'staff:EMAIL'",
         "blackouts[0].end: must be after start"],
        id="blackout-target-and-order",
    ),
    pytest.param(
        MINIMAL + '\n[[blackouts]]\nstart = "2027-03-14T02:30"\nend = "2027-03-14T04:00"\n',
        ["blackouts[0].start: 2027-03-14T02:30 does not exist in America/Toronto (the "
         "clocks skip it)"],
        id="blackout-in-dst-gap",
    ),
    pytest.param(
        MINIMAL.replace('staff_skill = "recording"',
                        'staff_skill = "recording"\nmin_duration = 120\n'
                        'default_duration = 90\nmax_duration = 600\nduration_step = 60'),
        ["services[0].default_duration: must be between min_duration (120) and max_duration "
         "(600)",
         "services[0].default_duration: must be a multiple of duration_step (60)"],
        id="default-duration",
    ),
    pytest.param(
        MINIMAL.replace('staff_skill = "recording"',
                        'staff_skill = "recording"\nmin_duration = 240\nmax_duration = 120\n'
                        'default_duration = 120\nduration_step = 45'),
        ["services[0].max_duration: must not be less than min_duration (240)",
         "services[0].min_duration: must be a multiple of duration_step (45)",
         "services[0].max_duration: must be a multiple of duration_step (45)",
         "services[0].default_duration: must be a multiple of duration_step (45)"],
        id="min-max-step",
    ),
    pytest.param(
        MINIMAL.replace('staff_skill = "recording"',
                        'staff_skill = "recording"\nbase_price = -100\ndeposit_percent = 150')
               .replace('skills = ["recording"]', 'skills = ["recording"]\nhourly_rate = -1'),
        ["staff[0].hourly_rate: must not be negative",
         "services[0].base_price: must not be negative",
         "services[0].deposit_percent: must be at most 100"],
        id="money",
    ),
    pytest.param(
        MINIMAL.replace('room_tags = ["tracking"]', 'room_tags = ["vocal"]')
               .replace('staff_skill = "recording"', 'staff_skill = "mixing"'),
        ["services[0].room_tags: no active room in this file has the tags ['vocal']",
         "services[0].staff_skill: no active staff member in this file has the skill "
         "'mixing'"],
        id="unmatched-tags-and-skill",
    ),
    pytest.param(
        MINIMAL + '\n[[rooms]]\nname = "Room 1"\n\n[[staff]]\nemail = "ENG@example.com"\n'
                  'name = "Again"\nrole = "owner"\n',
        ["rooms[1].name: duplicate of rooms[0].name",
         "staff[1].email: duplicate of staff[0].email",
         "staff[1].role: must be one of 'admin', 'staff'"],
        id="duplicates-and-role",
    ),
    pytest.param(
        MINIMAL.replace('slug = "tiny"', 'slug = "tiny studio"')
               .replace('email = "eng@example.com"', 'email = "not-an-email"')
               .replace('name = "Tiny Studio"\n', ''),
        ["studio.slug: must be a slug (letters, digits, '-' and '_')",
         "studio.name: required",
         "staff[0].email: must be an email address"],
        id="slug-name-email",
    ),
    pytest.param(
        "[studio]\nslug = 'x'\nname = 'X'\ntime_zone = 'UTC'\nhold_minutes = 'ten'\n"
        "requires_approval = 'no'\nlatitude = 123.0\n",
        ["studio.latitude: must be between -90 and 90",
         "studio.hold_minutes: must be a whole number",
         "studio.requires_approval: must be true or false",
         "studio.hours: required (a studio without hours is always closed)"],
        id="types",
    ),
    pytest.param(
        'name = "no studio table"\n',
        ["name: unknown key", "studio: required"],
        id="missing-studio",
    ),
]


@pytest.mark.parametrize(("text", "problems"), BAD_FILES)
def test_each_rule_reports_its_path_and_writes_nothing(db, tmp_path, text, problems):
    before = row_counts()

    with pytest.raises(StudioFileError) as raised:
        import_studio_file(write(tmp_path, text))

    assert raised.value.problems == problems
    assert row_counts() == before


def test_invalid_toml_is_one_problem(db, tmp_path):
    path = write(tmp_path, "[studio\nslug = 'x'\n")
    with pytest.raises(StudioFileError) as raised:
        import_studio_file(path)
    assert raised.value.problems == [
        "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)"]
    assert str(raised.value) == (
        f"{path}: 1 problem\n"
        "  invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)")
    assert row_counts()["Studio"] == 0


def test_errors_are_collected_in_file_order():
    text = MINIMAL.replace('slug = "tiny"', 'slug = ""') + (
        '\n[[admins]]\nemail = "boss@example.com"\npasswrd = "x"\n')
    with pytest.raises(StudioFileError) as raised:
        parse_studio_toml(text, "inline")
    assert raised.value.problems == [
        "studio.slug: must not be empty",
        "admins[0].passwrd: unknown key; did you mean 'password'?",
    ]


def test_existing_slug_needs_replace_and_writes_nothing(db, tmp_path):
    import_studio_file(write(tmp_path, MINIMAL))
    before = row_counts()

    with pytest.raises(StudioFileError) as raised:
        import_studio_file(write(tmp_path, MINIMAL.replace("Tiny Studio", "Renamed")))

    assert raised.value.problems == ["studio.slug: studio 'tiny' exists; use --replace"]
    assert row_counts() == before
    assert Studio.objects.get().name == "Tiny Studio"


def test_replace_updates_in_place_and_keeps_what_bookings_use(db, tmp_path):
    load_demo(now=NOW)
    mixing = Service.objects.get(name="Mixing session")
    assert Booking.objects.filter(service=mixing).count() == 1
    studio_b = Room.objects.get(name="Studio B")
    text = DEMO_FILE.read_text(encoding="utf-8")
    # Drop two services (one booked, one not) and Studio B's maintenance blackout; change
    # a setting and a room.
    start = text.index('[[services]]\nname = "Mixing session"')
    end = text.index('[[services]]\nname = "Vocal session"')
    text = text[:start] + text[end:]
    start = text.index('[[services]]\nname = "Full-day lockout"')
    end = text.index("# --- blackouts")
    text = text[:start] + text[end:]
    start = text.index('[[blackouts]]\ntarget = "room:Studio B"')
    end = text.index('[[blackouts]]\ntarget = "staff:')
    text = text[:start] + text[end:]
    text = text.replace("horizon_days = 365", "horizon_days = 120")
    text = text.replace('capacity = 4\n', 'capacity = 5\n')

    result = import_studio_file(write(tmp_path, text), replace=True)

    assert result.created is False
    assert result.counts == {"rooms": 3, "staff": 4, "services": 3, "schedule rules": 7,
                             "blackouts": 3, "buffer rules": 1, "admins": 1,
                             "deactivated": 1}
    assert Studio.objects.get().horizon_days == 120
    studio_b.refresh_from_db()
    assert (studio_b.capacity, studio_b.is_active) == (5, True)
    mixing.refresh_from_db()
    assert mixing.is_active is False  # a booking points at it: kept, deactivated
    assert not Service.objects.filter(name="Full-day lockout").exists()
    assert sorted(Service.objects.values_list("name", "is_active")) == [
        ("Mixing session", False), ("Recording session", True), ("Remote mastering", True),
        ("Vocal session", True)]
    assert list(BufferRule.objects.values_list("scope", "after_minutes")) == [("room", 15)]
    assert Blackout.objects.count() == 3
    assert Booking.objects.count() == 6
    assert list(AuditLog.objects.filter(action="studio.import")
                .values_list("diff__replace", flat=True)) == [False, True]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "studio-file.md"


def test_the_documented_example_is_valid():
    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```toml\n")[-1].split("```")[0]

    spec = parse_studio_toml(example, "docs example")

    assert (spec.slug, len(spec.rooms), len(spec.staff), len(spec.services)) == (
        "northside", 1, 1, 1)


def test_every_key_is_documented():
    from studiobook.studios import importer

    text = DOCS.read_text(encoding="utf-8")
    keys = {*importer.STUDIO_KEYS, *importer.HOURS_KEYS, *importer.ROOM_KEYS,
            *importer.STAFF_KEYS, *importer.SERVICE_KEYS, *importer.BLACKOUT_KEYS,
            *importer.ADMIN_KEYS, *importer.TAX_KEYS, *importer.FEE_KEYS}
    assert sorted(key for key in keys if f"| `{key}` |" not in text) == []


def test_the_unpaid_limits_come_from_the_studio_file(db, tmp_path):
    text = MINIMAL.replace('time_zone = "America/Toronto"\n', 'time_zone = "America/Toronto"\n'
                           'max_unpaid_bookings = 2\nmax_unpaid_hours = 8\n'
                           'first_booking_rule = "approval"\n', 1)
    import_studio_file(write(tmp_path, text))
    studio = Studio.objects.get()
    assert (studio.max_unpaid_bookings, studio.max_unpaid_hours,
            studio.first_booking_rule) == (2, 8, "approval")


def test_a_bad_first_booking_rule_in_the_studio_file_names_the_key(db, tmp_path):
    text = MINIMAL.replace('time_zone = "America/Toronto"\n', 'time_zone = "America/Toronto"\n'
                           'first_booking_rule = "prepay"\nmax_unpaid_bookings = 0\n', 1)
    with pytest.raises(StudioFileError) as raised:
        import_studio_file(write(tmp_path, text))
    message = str(raised.value)
    assert ("studio.first_booking_rule: must be one of 'none', 'approval', 'deposit'"
            in message)
    assert "studio.max_unpaid_bookings" in message
    assert Studio.objects.count() == 0
