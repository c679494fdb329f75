"""The studio dashboard's management pages: rooms, services, staff, working hours, blackouts,
buffers, taxes, fees, policies and settings, integrations (``web/dashboard/manage.py``)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

import lxml.html
import pytest
from django.test import override_settings
from django.urls import reverse
from PIL import Image

from studiobook.calendars.models import CalDAVAccount, CalendarSync, ExternalCalendar, FeedToken
from studiobook.studios.models import (
    AuditLog,
    Blackout,
    BufferRule,
    Fee,
    Membership,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
    TaxRate,
)
from tests.calendars.servers import BUSY_TUESDAY, Route, ics_server
from tests.support.factories import NOW

SLUG = "northside"
KINDS = ["rooms", "services", "staff", "hours", "blackouts", "buffers", "taxes", "fees"]


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def other_studio(make_studio) -> Studio:
    return make_studio(slug="eastside", name="Eastside Audio", hours=None)


def url(name: str, *args, query: str = "") -> str:
    return reverse(f"web:{name}", args=[SLUG, *args]) + (f"?{query}" if query else "")


def manage_url(kind: str, *args) -> str:
    if not args:
        return url("dashboard-manage", kind)
    if args == ("new",):
        return url("dashboard-manage-new", kind)
    if len(args) == 2:
        return url("dashboard-manage-delete", kind, args[0])
    return url("dashboard-manage-edit", kind, args[0])


def page(response) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def errors_of(response, input_id: str) -> list[str]:
    """The error messages shown next to the input with ``input_id`` (or the checkbox group
    fieldset with that id)."""
    html = page(response)
    found = html.xpath(f"//*[@id='{input_id}']")
    assert found, f"no element #{input_id}"
    element = found[0]
    box = element if element.tag == "fieldset" else element.xpath(
        "ancestor::div[contains(concat(' ', @class, ' '), ' field ')][1]")[0]
    return [text(p) for p in box.xpath(".//p[contains(@class, 'error')]")]


def value_of(response, input_id: str) -> str:
    element = page(response).xpath(f"//*[@id='{input_id}']")[0]
    if element.tag == "textarea":
        return element.text or ""
    if element.tag == "select":
        chosen = element.xpath(".//option[@selected]/@value")
        return chosen[0] if chosen else ""
    return element.get("value", "")


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "#d9480f").save(buffer, "PNG")
    return buffer.getvalue()


def png_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("my holiday snap.png", png_bytes(), content_type="image/png")


# --- access ----------------------------------------------------------------------------------

def test_anonymous_users_are_sent_to_sign_in(client, studio):
    response = client.get(manage_url("rooms"))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/dashboard/{SLUG}/manage/rooms"


def test_staff_members_and_artists_get_404(client, studio, make_staff, artist, make_room):
    room = make_room(name="Studio A")
    engineer = make_staff()
    for user in (engineer.user, artist):
        client.force_login(user)
        for address in [manage_url(kind) for kind in KINDS] + [
                manage_url("rooms", "new"), manage_url("rooms", room.pk),
                manage_url("rooms", room.pk, "delete"), url("dashboard-settings"),
                url("dashboard-integrations")]:
            assert client.get(address).status_code == 404, address
        assert client.post(manage_url("rooms", "new"), {"name": "Sneaky",
                                                        "capacity": "1"}).status_code == 404
        assert client.post(url("dashboard-integrations-staff-feed", engineer.pk)
                           ).status_code == 404
    assert list(Room.objects.values_list("name", flat=True)) == ["Studio A"]
    assert FeedToken.objects.count() == 0


def test_an_unknown_kind_is_404(admin):
    assert admin.get(manage_url("guitars")).status_code == 404
    assert admin.get(manage_url("guitars", "new")).status_code == 404
    assert admin.post(manage_url("guitars", "new"), {"name": "x"}).status_code == 404


def test_another_studios_rows_are_404(admin, other_studio):
    rows = {
        "rooms": Room.objects.create(studio=other_studio, name="Their room"),
        "services": Service.objects.create(studio=other_studio, name="Their service"),
        "hours": ScheduleRule.objects.create(studio=other_studio, target_type="studio",
                                             weekdays=[1], start_time=time(9),
                                             end_time=time(17)),
        "taxes": TaxRate.objects.create(studio=other_studio, name="GST",
                                        rate_ppm=50000),
        "fees": Fee.objects.create(studio=other_studio, name="Cleaning", kind="fixed",
                                   amount=1000),
    }
    for kind, row in rows.items():
        assert admin.get(manage_url(kind, row.pk)).status_code == 404
        assert admin.post(manage_url(kind, row.pk), {"name": "Mine now"}).status_code == 404
        assert admin.get(manage_url(kind, row.pk, "delete")).status_code == 404
        assert admin.post(manage_url(kind, row.pk, "delete")).status_code == 404
    assert Room.objects.get(pk=rows["rooms"].pk).name == "Their room"
    assert Room.objects.get(pk=rows["rooms"].pk).is_active is True
    assert ScheduleRule.objects.filter(studio=other_studio).count() == 1
    assert TaxRate.objects.get(pk=rows["taxes"].pk).name == "GST"
    # Nor can a form point at another studio's room.
    response = admin.post(manage_url("hours", "new"), {
        "target_type": "room", "room": rows["rooms"].pk, "weekdays": ["1"],
        "start_time": "09:00", "end_time": "17:00"})
    assert response.status_code == 422
    assert errors_of(response, "id_room") == [
        "Select a valid choice. That choice is not one of the available choices."]


def test_every_list_has_an_empty_state_with_an_add_button(admin, studio):
    ScheduleRule.objects.filter(studio=studio).delete()
    labels = {"rooms": "Add room", "services": "Add service", "staff": "Add staff member",
              "hours": "Add working hours", "blackouts": "Add blackout", "buffers": "Add buffer",
              "taxes": "Add tax rate", "fees": "Add fee"}
    for kind, label in labels.items():
        response = admin.get(manage_url(kind))
        assert response.status_code == 200
        html = page(response)
        empty = html.xpath("//div[@class='empty']")[0]
        assert text(empty.xpath("p[@class='empty-title']")[0]).startswith("No ")
        assert [(a.get("href"), text(a)) for a in empty.xpath(".//a")] == [
            (manage_url(kind, "new"), label)]
        assert response.context["section"] == kind
        assert response.context["nav"] == "dashboard"
        new = admin.get(manage_url(kind, "new"))
        assert new.status_code == 200
        assert text(page(new).xpath("//h1")[0]) == label


# --- rooms -----------------------------------------------------------------------------------

def test_adding_a_room_writes_exactly_that_room(admin, studio, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = admin.get(manage_url("rooms", "new"))
    assert page(response).xpath("//form[@method='post']/@enctype") == ["multipart/form-data"]
    response = admin.post(manage_url("rooms", "new"), {
        "name": "Studio A", "description": "Live room", "capacity": "8",
        "tags": "tracking, drums,  tracking,", "equipment": "Neve 8078\n\n  Yamaha C7  \n",
        "color": "#D9480F", "is_active": "on", "photo": png_upload()})
    assert response.status_code == 302
    assert response["Location"] == manage_url("rooms")
    room = Room.objects.get(studio=studio)
    assert (room.name, room.description, room.capacity, room.tags, room.equipment,
            room.color, room.is_active) == (
        "Studio A", "Live room", 8, ["tracking", "drums"], ["Neve 8078", "Yamaha C7"],
        "#d9480f", True)
    assert room.photo.name == f"rooms/northside-room-{room.pk}.png"
    assert (tmp_path / room.photo.name).read_bytes() == png_bytes()
    assert list(AuditLog.objects.filter(entity="room").values_list("action", flat=True)) == [
        "room.create", "room.update"]
    listing = admin.get(manage_url("rooms"))
    row = page(listing).xpath("//tbody/tr")[0]
    assert text(row.xpath("th")[0]).startswith("Studio A")
    assert row.xpath(".//img/@src") == [f"/media/{room.photo.name}"]
    assert [text(li) for li in row.xpath(".//li")] == ["Neve 8078", "Yamaha C7"]
    assert "Added room: Studio A." in listing.content.decode()


def test_replacing_and_removing_a_room_photo(admin, studio, make_room, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    room = make_room(name="Studio A")
    fields = {"name": "Studio A", "capacity": "1", "tags": "tracking", "is_active": "on"}
    assert admin.post(manage_url("rooms", room.pk),
                      fields | {"photo": png_upload()}).status_code == 302
    room.refresh_from_db()
    assert room.photo.name == f"rooms/northside-room-{room.pk}.png"
    form = page(admin.get(manage_url("rooms", room.pk)))
    assert form.xpath("//input[@name='photo-clear']/@type") == ["checkbox"]
    # Saving without a new upload keeps the photo.
    assert admin.post(manage_url("rooms", room.pk), fields).status_code == 302
    room.refresh_from_db()
    assert room.photo.name == f"rooms/northside-room-{room.pk}.png"
    assert admin.post(manage_url("rooms", room.pk),
                      fields | {"photo-clear": "on"}).status_code == 302
    room.refresh_from_db()
    assert room.photo.name == ""
    assert list(AuditLog.objects.filter(entity="room").values_list("diff", flat=True))[-1] == {
        "photo": [f"rooms/northside-room-{room.pk}.png", ""]}


def test_a_room_photo_must_be_an_image(admin, studio, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    response = admin.post(manage_url("rooms", "new"), {
        "name": "Studio A", "capacity": "8", "tags": "tracking", "equipment": "Neve\nC7",
        "photo": SimpleUploadedFile("room.png", b"not an image", content_type="image/png")})
    assert response.status_code == 422
    assert errors_of(response, "id_photo") == [
        "Upload a valid image. The file you uploaded was either not an image or a corrupted "
        "image."]
    assert Room.objects.count() == 0
    assert list(tmp_path.iterdir()) == []
    assert (value_of(response, "id_name"), value_of(response, "id_tags"),
            value_of(response, "id_equipment").strip()) == ("Studio A", "tracking", "Neve\nC7")


def test_a_room_name_is_unique_per_studio(admin, studio, make_room):
    make_room(name="Studio A")
    response = admin.post(manage_url("rooms", "new"), {"name": "Studio A", "capacity": "2"})
    assert response.status_code == 422
    assert errors_of(response, "id_name") == ["A room with this name already exists"]
    assert Room.objects.count() == 1


def test_a_room_colour_must_be_a_hex_colour(admin, studio):
    response = admin.post(manage_url("rooms", "new"), {"name": "B", "capacity": "2",
                                                       "color": "red;}"})
    assert response.status_code == 422
    assert errors_of(response, "id_color") == ["Enter a hex colour such as #1d4ed8."]
    assert Room.objects.count() == 0


def test_editing_and_retiring_a_room(admin, studio, make_room):
    room = make_room(name="Studio A", tags=["tracking"], equipment=["Neve"], capacity=4)
    form = admin.get(manage_url("rooms", room.pk))
    assert (value_of(form, "id_name"), value_of(form, "id_tags"),
            value_of(form, "id_capacity")) == ("Studio A", "tracking", "4")
    response = admin.post(manage_url("rooms", room.pk), {
        "name": "Studio A1", "capacity": "6", "tags": "tracking, vocal",
        "equipment": "Neve", "is_active": "on"})
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.name, room.capacity, room.tags, room.is_active) == (
        "Studio A1", 6, ["tracking", "vocal"], True)

    confirm = admin.get(manage_url("rooms", room.pk, "delete"))
    assert confirm.status_code == 200
    assert text(page(confirm).xpath("//h1")[0]) == "Retire room “Studio A1”?"
    assert Room.objects.get(pk=room.pk).is_active is True  # asking changes nothing
    response = admin.post(manage_url("rooms", room.pk, "delete"))
    assert (response.status_code, response["Location"]) == (302, manage_url("rooms"))
    room.refresh_from_db()
    assert room.is_active is False
    listing = page(admin.get(manage_url("rooms")))
    assert [text(c) for c in listing.xpath("//tbody//span[contains(@class, 'chip-off')]")] == [
        "Retired"]
    # A retired room can be edited back to active but not retired twice.
    assert listing.xpath("//a[starts-with(normalize-space(.), 'Retire')]") == []


# --- services --------------------------------------------------------------------------------

SERVICE_FORM = {
    "name": "Recording session", "description": "With an engineer",
    "default_duration_minutes": "120", "min_duration_minutes": "60",
    "max_duration_minutes": "480", "duration_step_minutes": "60", "price_unit": "hour",
    "base_price": "95.50", "deposit_percent": "25", "requires_room": "on",
    "room_tags": "tracking", "requires_engineer": "on", "staff_skill_required": "recording",
    "is_active": "on",
}


def test_adding_a_service_converts_the_price_to_minor_units_exactly(admin, studio):
    response = admin.post(manage_url("services", "new"), SERVICE_FORM)
    assert response.status_code == 302
    service = Service.objects.get(studio=studio)
    assert (service.name, service.description, service.default_duration_minutes,
            service.min_duration_minutes, service.max_duration_minutes,
            service.duration_step_minutes, service.price_unit, service.base_price_minor,
            service.deposit_percent, service.requires_room, service.room_tags,
            service.requires_engineer, service.staff_skill_required,
            service.requires_approval, service.is_add_on, service.is_active) == (
        "Recording session", "With an engineer", 120, 60, 480, 60, "hour", 9550, 25, True,
        ["tracking"], True, "recording", False, False, True)
    row = page(admin.get(manage_url("services"))).xpath("//tbody/tr")[0]
    assert text(row.xpath("td[2]")[0]) == "CAD 95.50 per hour 25 % deposit"
    edit = admin.get(manage_url("services", service.pk))
    assert value_of(edit, "id_base_price") == "95.50"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"min_duration_minutes": "90"}, "id_min_duration_minutes",
     "Shortest booking (minutes) must be a multiple of 60 minutes"),
    ({"min_duration_minutes": "240", "max_duration_minutes": "120",
      "default_duration_minutes": "180"}, "id_default_duration_minutes",
     "Durations must satisfy min <= default <= max"),
    ({"base_price": "95.505"}, "id_base_price", "CAD amounts have at most 2 decimals."),
    ({"base_price": "95,50"}, "id_base_price",
     "Enter a number such as 95.50 (digits and a point, no commas or currency signs)."),
    ({"deposit_percent": "101"}, "id_deposit_percent",
     "Ensure this value is less than or equal to 100."),
])
def test_invalid_services_are_refused_next_to_the_field(admin, studio, changes, field,
                                                        message):
    response = admin.post(manage_url("services", "new"), SERVICE_FORM | changes)
    assert response.status_code == 422
    assert errors_of(response, field) == [message]
    assert Service.objects.count() == 0
    assert AuditLog.objects.count() == 0
    for name, value in changes.items():
        assert value_of(response, f"id_{name}") == value
    assert value_of(response, "id_name") == "Recording session"


def test_editing_a_service(admin, studio, make_service):
    service = make_service(name="Mix", base_price_minor=6000)
    response = admin.post(manage_url("services", service.pk),
                          SERVICE_FORM | {"name": "Mix", "base_price": "120",
                                          "is_add_on": "on"})
    assert response.status_code == 302
    service.refresh_from_db()
    assert (service.base_price_minor, service.is_add_on, service.deposit_percent) == (
        12000, True, 25)
    admin.post(manage_url("services", service.pk, "delete"))
    service.refresh_from_db()
    assert service.is_active is False


# --- staff -----------------------------------------------------------------------------------

def test_adding_a_staff_member_by_email(admin, studio):
    response = admin.post(manage_url("staff", "new"), {
        "email": "Eve@Example.test", "display_name": "Eve Engineer", "role": "staff",
        "skills": "recording, mixing", "hourly_rate": "55.00"})
    assert response.status_code == 302
    staff = StaffMember.objects.select_related("user").get(studio=studio)
    assert (staff.user.email, staff.display_name, staff.skills, staff.hourly_rate_minor,
            staff.is_active) == ("eve@example.test", "Eve Engineer", ["recording", "mixing"],
                                 5500, True)
    assert Membership.objects.get(studio=studio, user=staff.user).role == "staff"
    row = page(admin.get(manage_url("staff"))).xpath("//tbody/tr")[0]
    assert text(row.xpath("th")[0]) == "Eve Engineer eve@example.test"
    assert [text(c) for c in row.xpath(".//span[contains(@class, 'chip-tag')]")] == [
        "recording", "mixing"]
    assert text(row.xpath("td[2]")[0]) == "CAD 55.00"

    again = admin.post(manage_url("staff", "new"), {
        "email": "eve@example.test", "display_name": "Eve again", "role": "staff"})
    assert again.status_code == 422
    assert errors_of(again, "id_email") == ["eve@example.test is already staff at Northside Sound"]
    assert StaffMember.objects.count() == 1
    assert value_of(again, "id_display_name") == "Eve again"


def test_editing_a_staff_member_and_their_working_hours(admin, studio, make_staff, make_rule):
    eve, sam = make_staff(display_name="Eve"), make_staff(display_name="Sam")
    make_rule(target_type="staff", staff=eve, weekdays=[1, 2], start_time=time(10),
              end_time=time(18))
    make_rule(target_type="staff", staff=sam, weekdays=[3], start_time=time(12),
              end_time=time(20))
    response = admin.post(manage_url("staff", eve.pk), {
        "display_name": "Eve E.", "skills": "mixing", "hourly_rate": "60.5"})
    assert response.status_code == 302
    eve.refresh_from_db()
    assert (eve.display_name, eve.skills, eve.hourly_rate_minor, eve.is_active) == (
        "Eve E.", ["mixing"], 6050, False)

    listing = page(admin.get(manage_url("staff")))
    link = listing.xpath(f"//tr[@data-row-id='{eve.pk}']//a[starts-with(., 'Working hours')]")[0]
    assert link.get("href") == manage_url("hours") + f"?staff={eve.pk}"
    hours = admin.get(link.get("href"))
    html = page(hours)
    assert text(html.xpath("//h1")[0]) == "Working hours: Eve E."
    assert [text(r.xpath("th")[0]) + " | " + text(r.xpath("td[1]")[0]) + " | "
            + text(r.xpath("td[2]")[0]) for r in html.xpath("//tbody/tr")] == [
        "Staff: Eve E. | Mon, Tue | 10:00–18:00"]
    add = html.xpath("//a[normalize-space(.)='Add working hours']")[0].get("href")
    assert add == manage_url("hours", "new") + f"?target_type=staff&staff={eve.pk}"
    form = admin.get(add)
    assert (value_of(form, "id_target_type"), value_of(form, "id_staff")) == (
        "staff", str(eve.pk))
    # Eve is retired now (the checkbox was not posted), yet her own row's link still adds
    # her hours; a new form without that link does not offer her.
    assert [o.get("value") for o in page(admin.get(manage_url("hours", "new"))).xpath(
        "//select[@name='staff']/option") if o.get("value")] == [str(sam.pk)]
    response = admin.post(add, {"target_type": "staff", "staff": eve.pk, "weekdays": [5],
                                "start_time": "09:00", "end_time": "13:00"})
    assert response.status_code == 302
    assert ScheduleRule.objects.filter(staff=eve).count() == 2
    # A link naming no one (edited by hand) prefills nothing rather than failing.
    for bad in ("abc", "-1", "١"):
        form = admin.get(manage_url("hours", "new") + f"?target_type=staff&staff={bad}")
        assert (form.status_code, value_of(form, "id_staff")) == (200, "")


# --- working hours ---------------------------------------------------------------------------

HOURS_FORM = {"target_type": "staff", "weekdays": ["1", "3", "5"], "start_time": "10:00",
              "end_time": "02:00", "effective_from": "2026-12-01", "effective_to": ""}


def test_adding_working_hours(admin, studio, make_staff):
    eve = make_staff(display_name="Eve")
    response = admin.post(manage_url("hours", "new"), HOURS_FORM | {"staff": eve.pk})
    assert response.status_code == 302
    rule = ScheduleRule.objects.get(studio=studio, target_type="staff")
    assert (rule.staff_id, rule.room_id, rule.weekdays, rule.start_time, rule.end_time,
            rule.effective_from, rule.effective_to) == (
        eve.pk, None, [1, 3, 5], time(10), time(2), date(2026, 12, 1), None)
    row = page(admin.get(manage_url("hours"))).xpath(f"//tr[@data-row-id='{rule.pk}']")[0]
    assert text(row) .startswith("Staff: Eve Mon, Wed, Fri 10:00–02:00 (next day) from 1 Dec 2026")
    form = admin.get(manage_url("hours", rule.pk))
    checked = page(form).xpath("//fieldset[@id='id_weekdays']//input[@checked]/@value")
    assert checked == ["1", "3", "5"]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"weekdays": []}, "id_weekdays", "Choose at least one day."),
    ({"end_time": "10:00"}, "id_end_time",
     "Closes must differ from opens (an end before the start runs past midnight)"),
    ({"effective_from": "2026-12-10", "effective_to": "2026-12-01"}, "id_effective_to",
     "Until (optional, inclusive) must not be before from (optional)"),
    ({"target_type": "room"}, "id_room", "Choose the room it applies to."),
    ({"staff": ""}, "id_staff", "Choose the staff member it applies to."),
])
def test_invalid_working_hours_are_refused_next_to_the_field(admin, studio, make_staff,
                                                             changes, field, message):
    eve = make_staff(display_name="Eve")
    before = ScheduleRule.objects.count()
    response = admin.post(manage_url("hours", "new"), HOURS_FORM | {"staff": eve.pk} | changes)
    assert response.status_code == 422
    assert errors_of(response, field) == [message]
    assert ScheduleRule.objects.count() == before
    assert value_of(response, "id_start_time") == "10:00"
    if changes.get("weekdays") is None:
        checked = page(response).xpath("//fieldset[@id='id_weekdays']//input[@checked]/@value")
        assert checked == ["1", "3", "5"]


def test_deleting_working_hours_asks_first(admin, studio, make_rule):
    rule = make_rule(weekdays=[6, 7], start_time=time(10), end_time=time(20))
    confirm = admin.get(manage_url("hours", rule.pk, "delete"))
    html = page(confirm)
    assert text(html.xpath("//h1")[0]) == "Delete working hours?"
    assert text(html.xpath("//section/p")[0]) == (
        "Whole studio, Sat, Sun 10:00–20:00. This cannot be undone.")
    assert ScheduleRule.objects.filter(pk=rule.pk).exists()
    response = admin.post(html.xpath("//section//form/@action")[0])
    assert response.status_code == 302
    assert not ScheduleRule.objects.filter(pk=rule.pk).exists()


# --- blackouts -------------------------------------------------------------------------------

def test_a_blackout_is_entered_in_the_studio_zone(admin, studio, make_room):
    room = make_room(name="Studio A")
    form = page(admin.get(manage_url("blackouts", "new")))
    assert "Times are local to the studio (America/Toronto)." in text(form)
    response = admin.post(manage_url("blackouts", "new"), {
        "target_type": "room", "room": room.pk, "start_at": "2026-12-24T09:00",
        "end_at": "2026-12-26T18:00", "reason": "Holiday"})
    assert response.status_code == 302
    blackout = Blackout.objects.get(studio=studio)
    assert (blackout.target_type, blackout.room_id, blackout.start_at, blackout.end_at,
            blackout.reason) == ("room", room.pk, datetime(2026, 12, 24, 14, tzinfo=UTC),
                                 datetime(2026, 12, 26, 23, tzinfo=UTC), "Holiday")
    listing = page(admin.get(manage_url("blackouts")))
    assert [text(c) for c in listing.xpath("//tbody/tr[1]/*")][:4] == [
        "Room: Studio A", "Thu 24 Dec 2026, 09:00", "Sat 26 Dec 2026, 18:00", "Holiday"]
    assert "Starts (America/Toronto)" in text(listing.xpath("//thead")[0])
    edit = admin.get(manage_url("blackouts", blackout.pk))
    assert (value_of(edit, "id_start_at"), value_of(edit, "id_end_at")) == (
        "2026-12-24T09:00", "2026-12-26T18:00")


def test_retired_rooms_and_staff_are_not_offered_except_on_the_row_that_names_them(
        admin, studio, make_room, make_staff, make_blackout):
    active, retired = make_room(name="Studio A"), make_room(name="Old Booth", is_active=False)
    engineer = make_staff(display_name="Eve Engineer")
    gone = make_staff(display_name="Gone Engineer", is_active=False)

    def offered(response, field: str) -> list[str]:
        return [text(o) for o in page(response).xpath(f"//select[@name='{field}']/option")
                if o.get("value")]

    new = admin.get(manage_url("blackouts", "new"))
    assert (offered(new, "room"), offered(new, "staff")) == (["Studio A"], ["Eve Engineer"])
    response = admin.post(manage_url("blackouts", "new"), {
        "target_type": "room", "room": retired.pk, "start_at": "2026-12-24T09:00",
        "end_at": "2026-12-24T18:00"})
    assert response.status_code == 422
    assert not Blackout.objects.exists()

    # A row made before the room was retired keeps its room when edited.
    old = make_blackout(target_type="room", room=retired, start_at=NOW,
                        end_at=NOW.replace(hour=18))
    edit = admin.get(manage_url("blackouts", old.pk))
    assert offered(edit, "room") == ["Old Booth", "Studio A"]
    assert page(edit).xpath("//select[@name='room']/option[@selected]/@value") == [
        str(retired.pk)]
    buffers = admin.get(manage_url("buffers", "new"))
    assert (offered(buffers, "room"), offered(buffers, "staff")) == (
        ["Studio A"], ["Eve Engineer"])
    assert active.is_active and not gone.is_active


def test_a_blackout_across_the_spring_change_and_in_its_gap(admin, studio):
    response = admin.post(manage_url("blackouts", "new"), {
        "target_type": "studio", "start_at": "2027-03-14T01:00", "end_at": "2027-03-14T04:00"})
    assert response.status_code == 302
    blackout = Blackout.objects.get()
    # 01:00 EST is 06:00 UTC; 04:00 EDT is 08:00 UTC: two real hours.
    assert (blackout.start_at, blackout.end_at) == (datetime(2027, 3, 14, 6, tzinfo=UTC),
                                                    datetime(2027, 3, 14, 8, tzinfo=UTC))
    response = admin.post(manage_url("blackouts", "new"), {
        "target_type": "studio", "start_at": "2027-03-14T02:30", "end_at": "2027-03-14T05:00"})
    assert response.status_code == 422
    assert errors_of(response, "id_start_at") == [
        "2027-03-14 02:30 does not exist in America/Toronto (the clocks skip it)"]
    assert Blackout.objects.count() == 1


def test_a_blackout_must_end_after_it_starts(admin, studio):
    response = admin.post(manage_url("blackouts", "new"), {
        "target_type": "studio", "start_at": "2026-12-24T09:00", "end_at": "2026-12-24T08:00",
        "reason": "Oops"})
    assert response.status_code == 422
    assert errors_of(response, "id_end_at") == ["End must be after start"]
    assert Blackout.objects.count() == 0
    assert (value_of(response, "id_start_at"), value_of(response, "id_end_at"),
            value_of(response, "id_reason")) == ("2026-12-24T09:00", "2026-12-24T08:00", "Oops")


def test_past_blackouts_are_listed_apart(admin, studio, make_blackout):
    make_blackout(start_at=datetime(2026, 11, 1, 14, tzinfo=UTC),
                  end_at=datetime(2026, 11, 2, 14, tzinfo=UTC), reason="Done")
    response = admin.get(manage_url("blackouts"))
    html = page(response)
    assert text(html.xpath("//div[@class='empty']/p[@class='empty-title']")[0]) == (
        "No blackouts yet")
    assert text(html.xpath("//details/summary")[0]) == "Past blackouts (1)"


# --- buffers, taxes, fees --------------------------------------------------------------------

def test_adding_a_buffer(admin, studio, make_room, make_service):
    room = make_room(name="Studio A")
    make_service(name="Mix")
    response = admin.post(manage_url("buffers", "new"), {
        "scope": "room", "room": room.pk, "before_minutes": "10", "after_minutes": "15"})
    assert response.status_code == 302
    buffer = BufferRule.objects.get()
    assert (buffer.scope, buffer.room_id, buffer.service_id, buffer.staff_id,
            buffer.before_minutes, buffer.after_minutes) == ("room", room.pk, None, None, 10, 15)
    response = admin.post(manage_url("buffers", "new"), {
        "scope": "service", "room": room.pk, "before_minutes": "0", "after_minutes": "5"})
    assert response.status_code == 422
    assert errors_of(response, "id_service") == ["Choose the service."]
    assert BufferRule.objects.count() == 1


def test_the_services_list_shows_the_buffers_bookings_apply(admin, make_service, make_buffer):
    """Two buffer rules on one service: bookings use the largest before and the largest
    after (``availability.buffer_minutes``), and so does the list."""
    mix = make_service(name="Mix")
    make_buffer(scope="service", service=mix, before_minutes=30, after_minutes=5)
    make_buffer(scope="service", service=mix, before_minutes=10, after_minutes=20)
    row = page(admin.get(manage_url("services"))).xpath(f"//tr[@data-row-id='{mix.pk}']")[0]
    assert "buffer 30 min before, 20 after" in text(row)


def test_tax_rates_are_stored_in_parts_per_million_exactly(admin, studio):
    response = admin.post(manage_url("taxes", "new"), {"name": "HST", "rate": "13",
                                                       "is_active": "on"})
    assert response.status_code == 302
    tax = TaxRate.objects.get(studio=studio)
    assert (tax.name, tax.rate_ppm, tax.is_active) == ("HST", 130_000, True)

    response = admin.post(manage_url("taxes", "new"), {"name": "QST", "rate": "9.975",
                                                       "is_active": "on"})
    assert response.status_code == 302
    assert TaxRate.objects.get(name="QST").rate_ppm == 99_750
    row = page(admin.get(manage_url("taxes"))).xpath("//tbody/tr")[1]
    assert [text(c) for c in row.xpath("th|td")][:2] == ["QST", "9.975 %"]

    response = admin.post(manage_url("taxes", "new"), {"name": "Fine", "rate": "9.97501"})
    assert response.status_code == 422
    assert errors_of(response, "id_rate") == ["Use at most 4 decimals (e.g. 9.975)."]
    assert value_of(response, "id_rate") == "9.97501"
    response = admin.post(manage_url("taxes", "new"), {"name": "Slip", "rate": "99.75"})
    assert errors_of(response, "id_rate") == [
        "Enter at most 30 %: no tax a studio charges is higher (is a decimal point missing?)."]
    assert TaxRate.objects.count() == 2
    TaxRate.objects.filter(name="QST").delete()

    assert value_of(admin.get(manage_url("taxes", tax.pk)), "id_rate") == "13"
    response = admin.post(manage_url("taxes", tax.pk), {"name": "HST", "rate": "12.5",
                                                        "is_active": "on"})
    tax.refresh_from_db()
    assert tax.rate_ppm == 125_000
    row = page(admin.get(manage_url("taxes"))).xpath("//tbody/tr")[0]
    assert [text(c) for c in row.xpath("th|td")][:3] == ["HST", "12.5 %", "Active"]
    admin.post(manage_url("taxes", tax.pk, "delete"))
    assert TaxRate.objects.count() == 0


def test_fees_fixed_in_minor_units_and_percent_in_basis_points(admin, studio):
    assert admin.post(manage_url("fees", "new"), {
        "name": "Cleaning", "kind": "fixed", "amount": "25", "is_taxable": "on",
        "is_active": "on"}).status_code == 302
    assert admin.post(manage_url("fees", "new"), {
        "name": "Booking fee", "kind": "percent", "amount": "3.5",
        "is_active": "on"}).status_code == 302
    assert list(Fee.objects.order_by("id").values_list(
        "name", "kind", "amount", "is_taxable", "is_active")) == [
        ("Cleaning", "fixed", 2500, True, True), ("Booking fee", "percent", 350, False, True)]
    rows = page(admin.get(manage_url("fees"))).xpath("//tbody/tr")
    assert [text(r.xpath("td[1]")[0]) for r in rows] == ["CAD 25.00", "3.5 %"]
    response = admin.post(manage_url("fees", "new"), {"name": "Odd", "kind": "fixed",
                                                      "amount": "1.234"})
    assert response.status_code == 422
    assert errors_of(response, "id_amount") == ["CAD amounts have at most 2 decimals."]
    # The core's limits (scheduling.money): a percentage fee is at most 100 %, a fixed fee
    # at most CAD 1,000,000.00.
    response = admin.post(manage_url("fees", "new"), {"name": "Typo", "kind": "percent",
                                                      "amount": "150"})
    assert (response.status_code, errors_of(response, "id_amount")) == (
        422, ["Enter at most 100 %."])
    response = admin.post(manage_url("fees", "new"), {"name": "Huge", "kind": "fixed",
                                                      "amount": "1000000.01"})
    assert errors_of(response, "id_amount") == ["Enter at most 1000000.00."]
    assert Fee.objects.count() == 2


# --- settings and policies -------------------------------------------------------------------

def settings_form(**changes) -> dict:
    form = {
        "hold_minutes": "15", "max_active_holds": "2", "lead_time_minutes": "240",
        "horizon_days": "120", "slot_grid_minutes": "30", "requires_approval": "on",
        "approval_window_hours": "72", "balance_lead_hours": "24",
        "max_unpaid_bookings": "4", "max_unpaid_hours": "12", "first_booking_rule": "none",
        "tiers-TOTAL_FORMS": "4", "tiers-INITIAL_FORMS": "0", "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "1000",
        "tiers-0-min_hours_before": "72", "tiers-0-refund_percent": "100",
        "tiers-1-min_hours_before": "", "tiers-1-refund_percent": "",
        "tiers-2-min_hours_before": "24", "tiers-2-refund_percent": "50",
        "tiers-3-min_hours_before": "", "tiers-3-refund_percent": "",
        "free_reschedules": "1", "free_min_hours_before": "48", "fee": "25.00",
        "fee_percent": "0", "action": "save",
    }
    return form | changes


NEW_POLICY = ("Full refund if you cancel at least 72 h before the start; 50% at least 24 h "
              "before; no refund after that. One free reschedule if you ask at least 48 h "
              "before the start; otherwise each reschedule costs CAD 25.00. Hours are counted "
              "on the studio's local clock (America/Toronto).")


def test_the_settings_page_shows_the_policy_in_words(admin, studio):
    response = admin.get(url("dashboard-settings"))
    assert response.status_code == 200
    html = page(response)
    assert text(html.xpath("//*[@id='current-policy']")[0]) == (
        "Full refund if you cancel at least 48 h before the start; 50% at least 24 h before; "
        "no refund after that. You can reschedule free of charge any time before the start. "
        "Hours are counted on the studio's local clock (America/Toronto).")
    assert [value_of(response, f"id_tiers-{i}-min_hours_before") for i in range(5)] == [
        "48", "24", "0", "", ""]
    assert value_of(response, "id_hold_minutes") == "10"
    assert response.context["section"] == "settings"


def test_saving_settings_changes_the_studio_and_the_policy(admin, studio):
    response = admin.post(url("dashboard-settings"), settings_form())
    assert (response.status_code, response["Location"]) == (302, url("dashboard-settings"))
    studio.refresh_from_db()
    assert (studio.hold_minutes, studio.max_active_holds, studio.lead_time_minutes,
            studio.horizon_days, studio.slot_grid_minutes, studio.requires_approval,
            studio.approval_window_hours, studio.balance_lead_hours) == (
        15, 2, 240, 120, 30, True, 72, 24)
    assert studio.cancellation_policy == {
        "kind": "cancellation", "version": 1,
        "tiers": [{"min_hours_before": 72, "refund_percent": 100},
                  {"min_hours_before": 24, "refund_percent": 50}]}
    assert studio.reschedule_policy == {
        "kind": "reschedule", "version": 1, "free_reschedules": 1, "free_min_hours_before": 48,
        "fee_percent": 0, "fee_minor": 2500}
    after = admin.get(url("dashboard-settings"))
    assert text(page(after).xpath("//*[@id='current-policy']")[0]) == NEW_POLICY
    assert value_of(after, "id_fee") == "25.00"


def test_the_unpaid_limits_and_first_booking_rule_are_on_the_settings_page(admin, studio):
    studio.max_unpaid_bookings, studio.max_unpaid_hours = 4, 12
    studio.save()
    response = admin.get(url("dashboard-settings"))
    assert (value_of(response, "id_max_unpaid_bookings"),
            value_of(response, "id_max_unpaid_hours")) == ("4", "12")
    assert page(response).xpath("//select[@id='id_first_booking_rule']/option/@value") == [
        "none", "approval", "deposit"]
    response = admin.post(url("dashboard-settings"), settings_form(
        max_unpaid_bookings="2", max_unpaid_hours="6", first_booking_rule="approval"))
    assert response.status_code == 302
    studio.refresh_from_db()
    assert (studio.max_unpaid_bookings, studio.max_unpaid_hours, studio.first_booking_rule) == (
        2, 6, "approval")
    response = admin.post(url("dashboard-settings"), settings_form(
        max_unpaid_bookings="2", max_unpaid_hours="6", first_booking_rule="deposit"))
    assert response.status_code == 302
    studio.refresh_from_db()
    assert studio.first_booking_rule == "deposit"
    response = admin.post(url("dashboard-settings"), settings_form(
        max_unpaid_bookings="2", max_unpaid_hours="6", first_booking_rule="prepay"))
    assert response.status_code == 422
    studio.refresh_from_db()
    assert studio.first_booking_rule == "deposit"
    response = admin.post(url("dashboard-settings"), settings_form(max_unpaid_bookings="0"))
    assert response.status_code == 422
    studio.refresh_from_db()
    assert studio.max_unpaid_bookings == 2


def test_previewing_a_policy_saves_nothing(admin, studio):
    response = admin.post(url("dashboard-settings"), settings_form(action="preview"))
    assert response.status_code == 200
    html = page(response)
    assert text(html.xpath("//*[@id='preview-text']")[0]) == NEW_POLICY
    studio.refresh_from_db()
    assert (studio.hold_minutes, studio.cancellation_policy, studio.reschedule_policy) == (
        10, {}, {})
    assert value_of(response, "id_hold_minutes") == "15"


def test_invalid_settings_are_refused_next_to_the_field(admin, studio):
    response = admin.post(url("dashboard-settings"), settings_form(**{
        "tiers-2-refund_percent": "100", "tiers-0-refund_percent": "50"}))
    assert response.status_code == 422
    cell = page(response).xpath("//input[@id='id_tiers-2-refund_percent']/..")[0]
    assert [text(p) for p in cell.xpath("p[@class='error']")] == [
        "Must not exceed row 1's refund (50), got 100"]
    response_hold = admin.post(url("dashboard-settings"), settings_form(hold_minutes="0"))
    assert response_hold.status_code == 422
    assert errors_of(response_hold, "id_hold_minutes") == [
        "Ensure this value is greater than or equal to 1."]
    response_empty = admin.post(url("dashboard-settings"), settings_form(**{
        "tiers-0-min_hours_before": "", "tiers-0-refund_percent": "",
        "tiers-2-min_hours_before": "", "tiers-2-refund_percent": ""}))
    assert response_empty.status_code == 422
    assert "Add at least one row (0 hours before: 0 % means no refunds)." in text(
        page(response_empty))
    studio.refresh_from_db()
    assert (studio.hold_minutes, studio.cancellation_policy, studio.reschedule_policy) == (
        10, {}, {})
    assert AuditLog.objects.count() == 0


# --- integrations ----------------------------------------------------------------------------

SECRETS = ["sk_test_TOPSECRET0001", "whsec_TOPSECRET0002", "TOPSECRET0003", "ACTOPSECRET0004",
           "TOPSECRET0005", "TOPSECRET0006", "TOPSECRET0007", "TOPSECRET0008"]


@override_settings(
    PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY=SECRETS[0], STRIPE_WEBHOOK_SECRET=SECRETS[1],
    STRIPE_PUBLISHABLE_KEY="pk_test_public",
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="smtp.example.test",
    EMAIL_PORT=587, EMAIL_HOST_USER="mailer", EMAIL_HOST_PASSWORD=SECRETS[2],
    SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=SECRETS[3], TWILIO_AUTH_TOKEN=SECRETS[4],
    TWILIO_FROM="+15550001111", REDIS_URL=f"redis://:{SECRETS[5]}@redis:6379/0")
def test_the_integrations_page_never_shows_a_secret(admin, studio, make_staff, make_room):
    eve = make_staff(display_name="Eve")
    make_room(name="Studio A")
    CalDAVAccount.objects.create(staff=eve, url="https://caldav.example.test/", username="eve",
                                 password=SECRETS[6],
                                 calendar_url="https://caldav.example.test/eve/work/")
    ExternalCalendar.objects.create(
        studio=studio, staff=eve, name="Eve's own",
        url=f"https://calendar.example.test/ical/{SECRETS[7]}/basic.ics")
    response = admin.get(url("dashboard-integrations"))
    assert response.status_code == 200
    body = response.content.decode()
    for secret in SECRETS:
        assert secret not in body
    html = page(response)
    status = {e.get("data-status"): text(e) for e in html.xpath("//*[@data-status]")}
    assert status["stripe"] == "Stripe test mode"
    assert status["stripe-webhook"] == "Set"
    assert status["email"] == "SMTP smtp.example.test:587 (STARTTLS, signs in)"
    assert status["sms"] == "Twilio from +15550001111"
    assert status["tasks"] == "Database queue: run studiobook worker"
    assert status["caldav"] == "Connected eve at caldav.example.test"
    assert value_of(response, "webhook-url") == "http://testserver/api/webhooks/stripe"
    row = html.xpath("//tr[@data-calendar-id]")[0]
    assert text(row.xpath("th")[0]) == "Eve's own ICS address at calendar.example.test"


def test_the_integrations_page_offline(admin, studio, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    response = admin.get(url("dashboard-integrations"))
    html = page(response)
    status = {e.get("data-status"): text(e) for e in html.xpath("//*[@data-status]")}
    assert status["stripe"] == "Offline artists pay at the studio or by invoice"
    assert status["email"] == "Console emails are printed to the server log, not sent"
    assert status["sms"] == "Console text messages are printed to the server log, not sent"
    assert [text(e) for e in html.xpath("//p[@class='empty-title']")] == [
        "No staff yet", "No rooms yet", "No external calendars"]


def test_rotating_a_staff_feed_link_revokes_the_old_one(admin, client, studio, make_staff):
    eve = make_staff(display_name="Eve")
    html = page(admin.get(url("dashboard-integrations")))
    button = html.xpath(f"//article[@data-staff-id='{eve.pk}']//button")[0]
    assert text(button) == "Create feed link for Eve"

    first = admin.post(url("dashboard-integrations-staff-feed", eve.pk))
    assert first.status_code == 200
    assert first["Cache-Control"] == "no-store"
    first_url = urlsplit(page(first).xpath("//input[@data-feed-url]/@value")[0])
    assert first_url.path == f"/calendar/staff/{eve.pk}.ics"
    assert client.get(f"{first_url.path}?{first_url.query}").status_code == 200

    html = page(admin.get(url("dashboard-integrations")))
    assert text(html.xpath(f"//article[@data-staff-id='{eve.pk}']//*[@data-status='feed']")[0]
                ) == "Active since 23 Nov 2026, 07:00"
    assert text(html.xpath(f"//article[@data-staff-id='{eve.pk}']//button")[0]) == (
        "Rotate feed link for Eve")
    second = admin.post(url("dashboard-integrations-staff-feed", eve.pk))
    second_url = urlsplit(page(second).xpath("//input[@data-feed-url]/@value")[0])
    assert second_url.query != first_url.query
    assert client.get(f"{first_url.path}?{first_url.query}").status_code == 404
    assert client.get(f"{second_url.path}?{second_url.query}").status_code == 200
    assert FeedToken.objects.filter(staff=eve, is_active=True).count() == 1


def test_rotating_a_room_feed_link(admin, client, studio, make_room, other_studio, make_user):
    room = make_room(name="Studio A")
    response = admin.post(url("dashboard-integrations-room-feed", room.pk))
    feed = urlsplit(page(response).xpath("//input[@data-feed-url]/@value")[0])
    assert feed.path == f"/calendar/rooms/{room.pk}.ics"
    assert client.get(f"{feed.path}?{feed.query}").status_code == 200
    theirs = Room.objects.create(studio=other_studio, name="Theirs")
    theirs_staff = StaffMember.objects.create(studio=other_studio, user=make_user(),
                                              display_name="Ada")
    assert admin.post(url("dashboard-integrations-room-feed", theirs.pk)).status_code == 404
    assert admin.post(url("dashboard-integrations-staff-feed", theirs_staff.pk)
                      ).status_code == 404
    assert admin.get(url("dashboard-integrations-staff-feed", room.pk)).status_code == 405
    assert FeedToken.objects.count() == 1


def test_connecting_and_disconnecting_caldav(admin, studio, make_staff, settings):
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = True
    eve = make_staff(display_name="Eve")
    prefix = f"caldav-{eve.pk}"
    bad = admin.post(url("dashboard-integrations-caldav", eve.pk), {
        f"{prefix}-url": "ftp://files.example.test/", f"{prefix}-username": "eve",
        f"{prefix}-password": "app-password-1"})
    assert bad.status_code == 422
    assert errors_of(bad, f"id_{prefix}-url") == [
        "Only http, https and webcal URLs can be used, not 'ftp://files.example.test/'"]
    assert value_of(bad, f"id_{prefix}-username") == "eve"
    assert CalDAVAccount.objects.count() == 0

    response = admin.post(url("dashboard-integrations-caldav", eve.pk), {
        f"{prefix}-url": "http://127.0.0.1:5232/", f"{prefix}-username": "eve",
        f"{prefix}-password": "app-password-1",
        f"{prefix}-calendar_url": "http://127.0.0.1:5232/eve/work/"})
    assert response.status_code == 302
    account = CalDAVAccount.objects.get(staff=eve)
    assert (account.url, account.username, account.password, account.calendar_url) == (
        "http://127.0.0.1:5232/", "eve", "app-password-1", "http://127.0.0.1:5232/eve/work/")
    CalendarSync.objects.create(
        booking=_booking(studio, eve), staff=eve, status="failed", attempts=2,
        last_attempt_at=NOW, error="HTTP 507 Insufficient Storage")
    html = page(admin.get(url("dashboard-integrations")))
    card = html.xpath(f"//article[@data-staff-id='{eve.pk}']")[0]
    assert text(card.xpath(".//*[@data-status='sync']")[0]) == (
        "0 synced, 0 pending, 1 failed; last attempt Mon 23 Nov, 07:00")
    assert text(card.xpath(".//*[@data-sync-error]")[0]).endswith(
        ": HTTP 507 Insufficient Storage")
    assert "app-password-1" not in html.text_content()

    confirm = admin.get(url("dashboard-integrations-caldav-remove", eve.pk))
    assert text(page(confirm).xpath("//h1")[0]) == "Disconnect Eve's CalDAV calendar?"
    assert CalDAVAccount.objects.count() == 1
    admin.post(url("dashboard-integrations-caldav-remove", eve.pk))
    assert CalDAVAccount.objects.count() == 0


def _booking(studio, staff):
    from studiobook.bookings.models import Booking

    return Booking.objects.create(
        studio=studio, code="SB-SYNC1", user=staff.user, status="confirmed", currency="CAD",
        service=Service.objects.create(studio=studio, name="Sync service"),
        room=Room.objects.create(studio=studio, name="Sync room"),
        start_at=datetime(2026, 11, 24, 15, tzinfo=UTC),
        end_at=datetime(2026, 11, 24, 17, tzinfo=UTC))


def test_external_calendars_add_refresh_and_remove(admin, studio, make_staff, make_room,
                                                    settings):
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = True
    eve = make_staff(display_name="Eve")
    make_room(name="Studio A")
    missing = admin.post(url("dashboard-integrations-calendar-add"), {
        "external-target": "", "external-url": "https://example.test/x.ics",
        "external-kind": "ics"})
    assert missing.status_code == 422
    assert errors_of(missing, "id_external-target") == ["This field is required."]
    with ics_server() as server:
        server.routes["/eve.ics"] = Route(body=BUSY_TUESDAY)
        response = admin.post(url("dashboard-integrations-calendar-add"), {
            "external-target": f"staff:{eve.pk}", "external-url": server.url("/eve.ics"),
            "external-kind": "ics", "external-name": "Eve's own"})
        assert response.status_code == 302
        calendar = ExternalCalendar.objects.get()
        assert (calendar.staff_id, calendar.room_id, calendar.kind, calendar.name,
                calendar.status) == (eve.pk, None, "ics", "Eve's own", "pending")
        row = admin.post(url("dashboard-integrations-calendar-refresh", calendar.pk),
                         HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    cells = page(row).xpath("//tr")[0]
    assert cells.get("id") == f"calendar-{calendar.pk}"
    assert text(cells.xpath("td[2]")[0]) == "OK"
    calendar.refresh_from_db()
    assert calendar.status == "ok"

    # The server is gone: the next refresh fails, and says why.
    response = admin.post(url("dashboard-integrations-calendar-refresh", calendar.pk))
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.status == "failing"
    html = page(admin.get(url("dashboard-integrations")))
    status_cell = html.xpath(f"//tr[@data-calendar-id='{calendar.pk}']/td[2]")[0]
    assert text(status_cell).startswith("Failing Error: ")
    assert [text(m) for m in html.xpath("//div[@class='messages']/div")][-1].startswith(
        "Refreshing Eve's own failed: cannot fetch http://127.0.0.1:")

    confirm = admin.get(url("dashboard-integrations-calendar-remove", calendar.pk))
    assert text(page(confirm).xpath("//h1")[0]) == "Remove the calendar “Eve's own”?"
    admin.post(url("dashboard-integrations-calendar-remove", calendar.pk))
    assert ExternalCalendar.objects.count() == 0
