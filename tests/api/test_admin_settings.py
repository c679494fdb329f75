"""PUT /api/studios/{slug}/admin/settings: the studio's booking and payment settings."""

from __future__ import annotations

import pytest

from studiobook.studios.models import AuditLog, Studio

SETTINGS = "/studios/northside/admin/settings"


def test_an_admin_changes_booking_settings_and_the_change_is_audited(api, studio, admin_user):
    status, body = api.put(SETTINGS, {"hold_minutes": 15, "requires_approval": True},
                           user=admin_user)

    assert status == 200, body
    studio.refresh_from_db()
    assert (studio.hold_minutes, studio.requires_approval) == (15, True)
    assert AuditLog.objects.get(action="studio.settings").diff == {
        "hold_minutes": [10, 15], "requires_approval": [False, True]}


def test_a_policy_of_the_wrong_kind_is_422_and_changes_nothing(api, studio, admin_user):
    before = Studio.objects.values().get(pk=studio.pk)
    status, body = api.put(SETTINGS, {"cancellation_policy": {"kind": "reschedule",
                                                              "free_reschedules": 1}},
                           user=admin_user)

    assert status == 422, body
    assert body["errors"][0]["field"] == "cancellation_policy"
    assert Studio.objects.values().get(pk=studio.pk) == before


def test_the_platform_fee_is_the_operators_not_the_studio_admins(api, studio, admin_user,
                                                                  make_user):
    status, body = api.put(SETTINGS, {"platform_fee_basis_points": 9999, "hold_minutes": 30},
                           user=admin_user)
    assert (status, body["code"]) == (403, "forbidden")
    studio.refresh_from_db()
    assert (studio.platform_fee_basis_points, studio.hold_minutes) == (
        Studio._meta.get_field("platform_fee_basis_points").default, 10)

    operator = make_user(email="ops@studiobook.test", is_superuser=True, is_staff=True)
    status, body = api.put(SETTINGS, {"platform_fee_basis_points": 250}, user=operator)
    assert status == 200, body
    studio.refresh_from_db()
    assert studio.platform_fee_basis_points == 250


def test_the_service_itself_keeps_settings_in_range(studio, admin_user):
    """The ranges live in one table (studios.services.SETTING_LIMITS) that the API schema,
    the settings page and the importer read; the service enforces it for every caller."""
    from studiobook.studios.errors import InvalidInput
    from studiobook.studios.services import SETTING_LIMITS, update_settings

    low, high = SETTING_LIMITS["hold_minutes"]
    for bad in (low - 1, high + 1, "15", 2.5):
        with pytest.raises(InvalidInput) as raised:
            update_settings(actor=admin_user, studio=studio, data={"hold_minutes": bad})
        assert (raised.value.field, raised.value.rule) == ("hold_minutes", "range")
    studio.refresh_from_db()
    assert studio.hold_minutes == 10
    update_settings(actor=admin_user, studio=studio, data={"hold_minutes": high})
    studio.refresh_from_db()
    assert studio.hold_minutes == high


def test_the_api_and_the_importer_accept_the_same_ranges(api, studio, admin_user):
    """A studio file may set a 3-hour hold; the settings API (and page) must accept keeping
    it rather than refusing the studio's own value."""
    status, body = api.put(SETTINGS, {"hold_minutes": 180, "horizon_days": 3000},
                           user=admin_user)
    assert status == 200, body


def test_the_unpaid_limits_are_settings_of_the_api(api, studio, admin_user):
    status, body = api.put(SETTINGS, {"max_unpaid_bookings": 2, "max_unpaid_hours": 6,
                                      "first_booking_rule": "approval"}, user=admin_user)
    assert status == 200, body
    assert (body["max_unpaid_bookings"], body["max_unpaid_hours"],
            body["first_booking_rule"]) == (2, 6, "approval")
    for bad, field in (({"max_unpaid_bookings": 0}, "max_unpaid_bookings"),
                       ({"max_unpaid_hours": 745}, "max_unpaid_hours"),
                       ({"first_booking_rule": "never"}, "first_booking_rule")):
        status, body = api.put(SETTINGS, bad, user=admin_user)
        assert (status, body["errors"][0]["field"]) == (422, field)
    studio.refresh_from_db()
    assert (studio.max_unpaid_bookings, studio.max_unpaid_hours,
            studio.first_booking_rule) == (2, 6, "approval")


def test_the_deposit_first_booking_rule_is_a_setting_of_the_api(api, studio, admin_user):
    status, body = api.put(SETTINGS, {"first_booking_rule": "deposit"}, user=admin_user)
    assert (status, body["first_booking_rule"]) == (200, "deposit")
    studio.refresh_from_db()
    assert studio.first_booking_rule == "deposit"
