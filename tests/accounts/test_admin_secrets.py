"""The Django admin never renders a password or a secret calendar address back: the inputs
are write-only (empty, and empty keeps the stored value), lists show the host only; an
encrypted recipient is still found by its exact value."""

from __future__ import annotations

import pytest
from django.test import Client
from lxml import html as lxml_html

from studiobook.calendars.models import CalDAVAccount, ExternalCalendar
from studiobook.notify.models import Notification

SECRET_URL = "https://calendar.google.com/calendar/ical/eve/private-0123abcd/basic.ics"
CALDAV_PASSWORD = "app-pass-caldav-7731"
EXTERNAL_PASSWORD = "app-pass-external-4410"


@pytest.fixture
def operator(make_user):
    client = Client()
    client.force_login(make_user(email="root@example.test", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def secrets(studio, make_staff):
    staff = make_staff(display_name="Eve")
    account = CalDAVAccount.objects.create(staff=staff, url="https://dav.example.test/",
                                           username="eve", password=CALDAV_PASSWORD,
                                           calendar_url="https://dav.example.test/eve/")
    external = ExternalCalendar.objects.create(studio=studio, staff=staff, name="Eve's own",
                                               url=SECRET_URL, username="eve",
                                               password=EXTERNAL_PASSWORD)
    return {"staff": staff, "account": account, "external": external}


def inputs(response) -> dict[str, dict]:
    tree = lxml_html.fromstring(response.content.decode())
    return {i.get("name"): dict(i.attrib) for i in tree.xpath("//form//input")
            if i.get("name")}


def test_change_pages_render_no_password_and_no_secret_url(operator, secrets):
    pages = [operator.get(f"/admin/calendars/caldavaccount/{secrets['account'].pk}/change/"),
             operator.get(f"/admin/calendars/externalcalendar/{secrets['external'].pk}/change/"),
             operator.get("/admin/calendars/externalcalendar/"),
             operator.get("/admin/calendars/caldavaccount/")]

    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    for page in pages:
        body = page.content.decode()
        assert CALDAV_PASSWORD not in body
        assert EXTERNAL_PASSWORD not in body
        assert "private-0123abcd" not in body
    caldav, external = inputs(pages[0]), inputs(pages[1])
    assert (caldav["password"]["type"], "value" in caldav["password"]) == ("password", False)
    assert (external["password"]["type"], "value" in external["password"]) == ("password", False)
    assert (external["url"]["type"], "value" in external["url"]) == ("text", False)
    # The list shows where the calendar is, not its address.
    assert "<td class=\"field-host\">calendar.google.com</td>" in pages[2].content.decode()


def change_external(operator, external, **data):
    fields = {"studio": external.studio_id, "staff": external.staff_id, "name": external.name,
              "kind": "ics", "url": "", "username": "eve", "password": "", "zone": "",
              "is_active": "on"} | data
    return operator.post(f"/admin/calendars/externalcalendar/{external.pk}/change/", fields)


def test_an_empty_secret_input_keeps_the_stored_value(operator, secrets):
    external = secrets["external"]

    response = change_external(operator, external, name="Renamed")

    assert response.status_code == 302, response.content.decode()[-2000:]
    external.refresh_from_db()
    assert (external.name, external.url, external.password) == (
        "Renamed", SECRET_URL, EXTERNAL_PASSWORD)


def test_a_typed_secret_replaces_the_stored_one(operator, secrets):
    external = secrets["external"]

    response = change_external(operator, external, url="https://new.example.test/cal.ics",
                               password="another-app-pass")

    assert response.status_code == 302
    external.refresh_from_db()
    assert (external.url, external.password) == ("https://new.example.test/cal.ics",
                                                 "another-app-pass")


def test_a_new_caldav_account_needs_its_password(operator, studio, make_staff):
    staff = make_staff(display_name="Mo")
    fields = {"staff": staff.pk, "url": "https://dav.example.test/", "username": "mo",
              "password": "", "calendar_url": "https://dav.example.test/mo/",
              "is_active": "on"}

    refused = operator.post("/admin/calendars/caldavaccount/add/", fields)
    assert refused.status_code == 200
    assert CalDAVAccount.objects.count() == 0
    created = operator.post("/admin/calendars/caldavaccount/add/",
                            fields | {"password": "mo-app-pass"})
    assert created.status_code == 302
    assert CalDAVAccount.objects.get().password == "mo-app-pass"


def test_the_notification_admin_finds_an_encrypted_recipient_by_its_exact_value(
        operator, make_user):
    user = make_user(email="ari@example.test", phone="+14165550123")
    Notification.objects.create(user=user, channel="sms", template="test", key="k-sms",
                                recipient="+14165550123")
    # Sent before the user changed their address: only the recipient holds the old one.
    Notification.objects.create(user=user, channel="email", template="test", key="k-email",
                                recipient="old-ari@example.test")

    found = operator.get("/admin/notify/notification/", {"q": "+14165550123"})
    by_email = operator.get("/admin/notify/notification/", {"q": "OLD-ari@example.test"})
    partial = operator.get("/admin/notify/notification/", {"q": "416555"})

    assert [r.status_code for r in (found, by_email, partial)] == [200, 200, 200]
    assert "1 result" in found.content.decode()
    assert "1 result" in by_email.content.decode()
    assert "0 results" in partial.content.decode()
