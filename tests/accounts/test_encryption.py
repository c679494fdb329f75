"""Personal data and secrets are encrypted at rest: the stored columns hold no plaintext, the
values read back, lookups that the code makes still work, rotation to a new key re-encrypts
every row, and the migrations encrypt rows that were already there (and decrypt them back)."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from studiobook.accounts.encryption import UndecryptableValue
from studiobook.accounts.management.commands.rotate_encryption_keys import rotate_all
from studiobook.accounts.models import User
from studiobook.calendars.models import CalDAVAccount, ExternalCalendar
from studiobook.notify.models import Notification

OLD_KEY = "ILvAf2S-h8R73pWrESBrb4Qi_wR3AZVnvPlvBbYyimA="
NEW_KEY = "ZRGS-cFdsIhjYom8Lhz544pm2RqWWhI94hlSHJ4DOGo="
PHONE = "+14165550123"
SECRET_URL = "https://calendar.google.com/calendar/ical/eve%40example.test/private-0123abcd/basic.ics"
PASSWORDS = {"caldav": "app-pass-caldav-7731", "external": "app-pass-external-4410"}
PLAINTEXTS = [PHONE, SECRET_URL, *PASSWORDS.values(), "ari@example.test"]


def raw(table: str, column: str, pk) -> str:
    """The column as stored, read with SQL (no field conversion)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM "
                       f"{connection.ops.quote_name(table)} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def every_stored_value() -> list[str]:
    ordered = {model: list(model.objects.order_by("pk").values_list("pk", flat=True))
               for model in (User, Notification, CalDAVAccount, ExternalCalendar)}
    return [raw("accounts_user", "phone", pk) for pk in ordered[User]] + [
        raw("notify_notification", "recipient", pk) for pk in ordered[Notification]] + [
        raw("calendars_caldavaccount", "password", pk) for pk in ordered[CalDAVAccount]
    ] + [raw("calendars_externalcalendar", column, pk)
         for pk in ordered[ExternalCalendar] for column in ("url", "password")]


@pytest.fixture
def rows(studio, make_user, make_staff):
    """One row of each encrypted column, written under the current (test) key."""
    artist = make_user(email="ari@example.test", phone=PHONE)
    staff = make_staff(display_name="Eve")
    sms = Notification.objects.create(user=artist, channel="sms", template="test", key="k-sms",
                                      recipient=PHONE)
    email = Notification.objects.create(user=artist, channel="email", template="test",
                                        key="k-email", recipient="ari@example.test")
    caldav = CalDAVAccount.objects.create(staff=staff, url="https://dav.example.test/",
                                          username="eve", password=PASSWORDS["caldav"],
                                          calendar_url="https://dav.example.test/eve/")
    external = ExternalCalendar.objects.create(studio=studio, staff=staff, url=SECRET_URL,
                                               username="eve", password=PASSWORDS["external"])
    return {"artist": artist, "sms": sms, "email": email, "caldav": caldav,
            "external": external}


def reread(rows) -> tuple:
    return (User.objects.get(pk=rows["artist"].pk).phone,
            Notification.objects.get(pk=rows["sms"].pk).recipient,
            CalDAVAccount.objects.get(pk=rows["caldav"].pk).password,
            ExternalCalendar.objects.get(pk=rows["external"].pk).url,
            ExternalCalendar.objects.get(pk=rows["external"].pk).password)


EXPECTED = (PHONE, PHONE, PASSWORDS["caldav"], SECRET_URL, PASSWORDS["external"])


def test_stored_columns_hold_no_plaintext_and_read_back(rows):
    stored = every_stored_value()

    assert len(stored) == 7  # artist + engineer phones, two recipients, three secrets
    for value in stored:
        if value == "":  # the engineer has no phone: empty stays empty
            continue
        assert not any(plain in value for plain in PLAINTEXTS), value
        assert value.split(":")[-1].startswith("gAAAAA")  # a Fernet token
    assert reread(rows) == EXPECTED


def test_an_empty_value_is_stored_empty_and_filters(make_user):
    user = make_user(phone="")

    assert raw("accounts_user", "phone", user.pk) == ""
    assert list(User.objects.filter(phone="").values_list("pk", flat=True)) == [user.pk]


def test_a_recipient_is_found_by_its_exact_value_only(rows):
    assert list(Notification.objects.filter(recipient=PHONE)) == [rows["sms"]]
    assert list(Notification.objects.filter(recipient__iexact="ARI@example.test")) == [
        rows["email"]]
    assert list(Notification.objects.filter(recipient="+14165550124")) == []
    with pytest.raises(FieldError, match="Unsupported lookup 'icontains'"):
        list(Notification.objects.filter(recipient__icontains="416"))
    # A field that is not searchable refuses to compare with a value (it could never match).
    with pytest.raises(FieldError, match="accounts.User.phone is encrypted and not searchable"):
        list(User.objects.filter(phone=PHONE))


def test_rotation_reencrypts_every_row_with_the_new_first_key(rows):
    before = every_stored_value()

    with override_settings(STUDIOBOOK_FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        # Old rows read while both keys are listed; new writes use the new key.
        assert reread(rows) == EXPECTED
        assert rotate_all(check_only=True) == {
            "accounts.User.phone": 1, "calendars.CalDAVAccount.password": 1,
            "calendars.ExternalCalendar.url": 1, "calendars.ExternalCalendar.password": 1,
            "notify.Notification.recipient": 2}
        out = io.StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        assert out.getvalue().splitlines()[-1] == (
            "Re-encrypted 6 value(s) with the first key; check with --check, then remove the "
            "old key(s).")
        assert sum(rotate_all(check_only=True).values()) == 0
        after = every_stored_value()

    assert [a == b for a, b in zip(before, after, strict=True)] == [
        value == "" for value in before]  # every non-empty value was written again
    with override_settings(STUDIOBOOK_FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        # The old key is gone: everything still reads, and the lookup digest is the new one.
        assert reread(rows) == EXPECTED
        assert list(Notification.objects.filter(recipient=PHONE)) == [rows["sms"]]
        call_command("rotate_encryption_keys", "--check", stdout=io.StringIO())


def test_a_removed_key_fails_loudly_and_check_says_what_is_left(rows):
    with override_settings(STUDIOBOOK_FIELD_ENCRYPTION_KEYS=[NEW_KEY]), \
            pytest.raises(UndecryptableValue, match="cannot decrypt accounts.User.phone with "
                                                    "any key in STUDIOBOOK_FIELD_ENCRYPTION_KEYS"):
        User.objects.get(pk=rows["artist"].pk)
    with override_settings(STUDIOBOOK_FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]), \
            pytest.raises(CommandError, match="6 value"):
        call_command("rotate_encryption_keys", "--check", stdout=io.StringIO())
    # Nothing was changed by the check.
    assert reread(rows) == EXPECTED


@pytest.mark.django_db(transaction=True)
def test_the_migrations_encrypt_existing_rows_and_decrypt_them_back(studio, make_user,
                                                                    make_staff):
    executor = MigrationExecutor(connection)
    leaves = [("accounts", "0002_encrypt_phone"), ("notify", "0002_encrypt_recipient"),
              ("calendars", "0002_encrypt_secrets")]
    artist = make_user(email="ari@example.test", phone=PHONE)
    staff = make_staff(display_name="Eve")
    notification = Notification.objects.create(user=artist, channel="sms", template="test",
                                               key="k", recipient=PHONE)
    external = ExternalCalendar.objects.create(studio=studio, staff=staff, url=SECRET_URL,
                                               password=PASSWORDS["external"])
    account = CalDAVAccount.objects.create(staff=staff, url="https://dav.example.test/",
                                           username="eve", password=PASSWORDS["caldav"],
                                           calendar_url="https://dav.example.test/eve/")
    try:
        # Back to before encryption: the rows are plaintext again.
        executor.migrate([(app, "0001_initial") for app, _ in leaves])
        assert (raw("accounts_user", "phone", artist.pk),
                raw("notify_notification", "recipient", notification.pk),
                raw("calendars_caldavaccount", "password", account.pk),
                raw("calendars_externalcalendar", "url", external.pk),
                raw("calendars_externalcalendar", "password", external.pk)) == EXPECTED
    finally:
        # Forward to the latest migrations (whatever came after these).
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert not any(plain in value for value in every_stored_value() for plain in PLAINTEXTS)
    assert (User.objects.get(pk=artist.pk).phone,
            Notification.objects.get(pk=notification.pk).recipient,
            CalDAVAccount.objects.get(pk=account.pk).password,
            ExternalCalendar.objects.get(pk=external.pk).url,
            ExternalCalendar.objects.get(pk=external.pk).password) == EXPECTED
