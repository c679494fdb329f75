"""Taxes and fees through the admin API: the limits the pricing core enforces
(``scheduling.money``) are checked at the edge, so nothing stored can later break a quote;
rows stored before the limits make a quote name the fee or tax (409), never a 500."""

from __future__ import annotations

import pytest

from studiobook.studios.models import AuditLog, Fee, TaxRate

ADMIN = "/studios/northside/admin"
TEN_AM = "2026-11-24T15:00:00Z"


@pytest.fixture
def world(studio, make_room, make_service, artist, admin_user, make_staff):
    make_room(name="Studio A")
    service = make_service(name="Recording", price_unit="session", base_price_minor=10000)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def counts() -> tuple[int, int, int]:
    return TaxRate.objects.count(), Fee.objects.count(), AuditLog.objects.count()


def quote(api, world, **extra):
    return api.post("/studios/northside/quote",
                    {"service_id": world["service"].id, "start_at": TEN_AM,
                     "duration_min": 60}, **extra)


def test_tax_and_fee_lists_answer(api, world):
    TaxRate.objects.create(studio=world["studio"], name="QST", rate_ppm=99_750)
    Fee.objects.create(studio=world["studio"], name="Cleaning", kind="fixed", amount=2500)
    status, taxes = api.get(f"{ADMIN}/taxes", user=world["admin"])
    assert (status, taxes) == (200, [{"id": TaxRate.objects.get().pk, "name": "QST",
                                      "rate_percent": "9.975", "rate_ppm": 99_750,
                                      "rate_basis_points": None, "is_active": True}])
    status, fees = api.get(f"{ADMIN}/fees", user=world["admin"])
    assert (status, fees) == (200, [{"id": Fee.objects.get().pk, "name": "Cleaning",
                                     "kind": "fixed", "amount": 2500, "is_taxable": True,
                                     "is_active": True}])


def test_a_tax_rate_is_a_decimal_percent_with_the_basis_point_field_still_accepted(api, world):
    status, body = api.post(f"{ADMIN}/taxes", {"name": "QST", "rate_percent": "9.975"},
                            user=world["admin"])
    assert (status, body["rate_ppm"], body["rate_percent"]) == (201, 99_750, "9.975")
    status, body = api.post(f"{ADMIN}/taxes", {"name": "GST", "rate_basis_points": 500},
                            user=world["admin"])
    assert (status, body["rate_ppm"], body["rate_basis_points"]) == (201, 50_000, 500)
    assert list(TaxRate.objects.values_list("name", "rate_ppm")) == [("QST", 99_750),
                                                                     ("GST", 50_000)]
    # 10 000 * 5 % = 500; 10 000 * 9.975 % = 997.5 -> 998 (half-even on each line).
    status, body = quote(api, world)
    assert status == 200
    assert [(t["name"], t["rate_percent"], t["amount_cents"]) for t in body["taxes"]] == [
        ("QST", "9.975", 998), ("GST", "5", 500)]
    assert body["taxes_cents"] == 1498

    tax = TaxRate.objects.get(name="GST")
    status, body = api.put(f"{ADMIN}/taxes/{tax.pk}", {"name": "GST", "rate_percent": "5.5"},
                           user=world["admin"])
    assert (status, body["rate_ppm"], body["rate_basis_points"]) == (200, 55_000, 550)


@pytest.mark.parametrize("body, field, message", [
    ({"name": "Slip", "rate_percent": "99.75"}, "rate_percent", "a tax rate is at most 30 %"),
    ({"name": "Fine", "rate_percent": "9.97501"}, "rate_percent",
     "use at most 4 decimals (e.g. 9.975)"),
    ({"name": "Neg", "rate_percent": "-1"}, "rate_percent", "enter zero or more"),
    ({"name": "Old", "rate_basis_points": 3001}, "rate_basis_points",
     "Input should be less than or equal to 3000"),
    ({"name": "Both", "rate_percent": "5", "rate_basis_points": 500}, "body",
     'give exactly one of rate_percent (e.g. "9.975") or the deprecated rate_basis_points'),
    ({"name": "None"}, "body",
     'give exactly one of rate_percent (e.g. "9.975") or the deprecated rate_basis_points'),
])
def test_a_tax_rate_out_of_range_is_refused_and_nothing_is_written(api, world, body, field,
                                                                   message):
    before = counts()
    status, problem = api.post(f"{ADMIN}/taxes", body, user=world["admin"])
    assert status == 422
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [(field, message)]
    assert counts() == before


def test_an_update_out_of_range_changes_nothing(api, world):
    tax = TaxRate.objects.create(studio=world["studio"], name="HST", rate_ppm=130_000)
    before = counts()
    status, _ = api.put(f"{ADMIN}/taxes/{tax.pk}", {"name": "HST", "rate_percent": "130"},
                        user=world["admin"])
    assert status == 422
    tax.refresh_from_db()
    assert (tax.rate_ppm, counts()) == (130_000, before)


@pytest.mark.parametrize("kind, amount, message", [
    ("percent", 15000,
     "a percentage fee's amount is in basis points (100 = 1 %) from 0 to 10000 (100 %)"),
    ("percent", 10001,
     "a percentage fee's amount is in basis points (100 = 1 %) from 0 to 10000 (100 %)"),
])
def test_a_fee_above_the_cores_limit_is_refused(api, world, kind, amount, message):
    before = counts()
    status, problem = api.post(f"{ADMIN}/fees", {"name": "Booking", "kind": kind,
                                                 "amount": amount}, user=world["admin"])
    assert (status, problem["code"]) == (422, "invalid_input")
    assert problem["errors"] == [{"field": "amount", "rule": "range", "message": message}]
    assert counts() == before
    # The quote still works: nothing was stored.
    assert quote(api, world)[0] == 200


def test_fees_at_the_limits_are_accepted_and_priced(api, world):
    assert api.post(f"{ADMIN}/fees", {"name": "All of it", "kind": "percent", "amount": 10000,
                                      "is_taxable": False}, user=world["admin"])[0] == 201
    status, problem = api.post(f"{ADMIN}/fees", {"name": "Huge", "kind": "fixed",
                                                 "amount": 10**8 + 1}, user=world["admin"])
    assert (status, problem["errors"][0]["field"]) == (422, "amount")
    status, body = quote(api, world)
    assert (status, body["fees"][0]["total_cents"], body["subtotal_cents"]) == (200, 10000,
                                                                                20000)


def test_a_fee_changed_to_percent_keeps_the_percent_limit(api, world):
    fee = Fee.objects.create(studio=world["studio"], name="Cleaning", kind="fixed",
                             amount=50000)
    status, problem = api.put(f"{ADMIN}/fees/{fee.pk}", {"name": "Cleaning", "kind": "percent",
                                                         "amount": 50000},
                              user=world["admin"])
    assert (status, problem["errors"][0]["field"]) == (422, "amount")
    fee.refresh_from_db()
    assert (fee.kind, fee.amount) == ("fixed", 50000)


def test_a_stored_fee_out_of_range_makes_quotes_and_bookings_name_it(api, world):
    """A row saved before the limits (as the issue found: 15000 bp) is a 409 naming the fee,
    for the quote and the booking; nothing is written."""
    from studiobook.bookings.models import Booking, Hold

    fee = Fee.objects.create(studio=world["studio"], name="Booking fee", kind="percent",
                             amount=15000)
    status, problem = quote(api, world)
    assert (status, problem["code"]) == (409, "pricing_misconfigured")
    assert problem["detail"] == (
        "the fee “Booking fee” of Northside Sound cannot be priced (150 % is more than the "
        "100 % a percentage fee may be); a studio admin must correct or retire it under Fees")
    assert (problem["kind"], problem["id"], problem["name"]) == ("fee", fee.pk, "Booking fee")
    assert problem["errors"][0]["field"] == "fees"
    status, problem = api.post("/bookings", {"studio": "northside", "start_at": TEN_AM,
                                             "service_id": world["service"].id,
                                             "duration_min": 60}, user=world["artist"])
    assert (status, problem["code"], problem["name"]) == (409, "pricing_misconfigured",
                                                          "Booking fee")
    assert (Booking.objects.count(), Hold.objects.count()) == (0, 0)
    # The admin fixes it through the API, and quoting works again.
    status, _ = api.put(f"{ADMIN}/fees/{fee.pk}", {"name": "Booking fee", "kind": "percent",
                                                   "amount": 1500}, user=world["admin"])
    assert status == 200
    assert quote(api, world)[1]["fees"][0]["total_cents"] == 1500


def test_a_stored_tax_above_the_bound_makes_quotes_name_it(api, world):
    TaxRate.objects.create(studio=world["studio"], name="QST", rate_ppm=997_500)  # 99.75 %
    status, problem = quote(api, world)
    assert (status, problem["code"], problem["name"]) == (409, "pricing_misconfigured", "QST")
    assert problem["detail"] == (
        "the tax “QST” of Northside Sound cannot be priced (99.75 % is more than the 30 % a "
        "tax may be); a studio admin must correct or retire it under Taxes")
