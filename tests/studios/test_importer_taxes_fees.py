"""Taxes and fees in the studio file: rates as decimal percents (QST "9.975" exactly), the
same limits as the API and the pages (``studios.services.CHECKS``, from
``scheduling.money``), every problem reported at its key, nothing written on any problem, and
--replace replacing them only when the file lists them."""

from __future__ import annotations

import pytest

from studiobook.bookings.pricing import studio_fees, studio_taxes
from studiobook.studios.importer import StudioFileError, import_studio_file, parse_studio_toml
from studiobook.studios.models import Fee, Studio, TaxRate
from tests.studios.test_importer import MINIMAL, row_counts, write

TAXES_AND_FEES = MINIMAL + """
[[taxes]]
name = "GST"
rate = "5"

[[taxes]]
name = "QST"
rate = "9.975"

[[taxes]]
name = "Old"
rate = 13
active = false

[[fees]]
name = "Cleaning"
kind = "fixed"
amount = 2500

[[fees]]
name = "Booking"
kind = "percent"
percent = 3.5
taxable = false
"""


def test_taxes_and_fees_are_imported_exactly(db, tmp_path):
    result = import_studio_file(write(tmp_path, TAXES_AND_FEES))
    assert (result.counts["taxes"], result.counts["fees"]) == (3, 2)
    assert list(TaxRate.objects.order_by("id").values_list("name", "rate_ppm", "is_active")) == [
        ("GST", 50_000, True), ("QST", 99_750, True), ("Old", 130_000, False)]
    assert list(Fee.objects.order_by("id").values_list(
        "name", "kind", "amount", "is_taxable", "is_active")) == [
        ("Cleaning", "fixed", 2500, True, True), ("Booking", "percent", 350, False, True)]
    studio = Studio.objects.get()
    # What was imported can be priced.
    assert [t.rate_ppm for t in studio_taxes(studio)] == [50_000, 99_750]
    assert [f.amount for f in studio_fees(studio)] == [2500, 350]


@pytest.mark.parametrize("section, problems", [
    ('[[taxes]]\nname = "QST"\nrate = "99.75"\n',
     ["taxes[0].rate: rate must be a percentage from 0 to 30 % (at most 4 decimals, "
      "e.g. 9.975)"]),
    ('[[taxes]]\nname = "QST"\nrate = "9.97501"\n',
     ["taxes[0].rate: use at most 4 decimals (e.g. 9.975)"]),
    ('[[taxes]]\nname = "QST"\nrate = -1\n', ["taxes[0].rate: enter zero or more"]),
    ('[[taxes]]\nname = "QST"\nrate = true\n',
     ['taxes[0].rate: must be a percentage such as "9.975"']),
    ('[[taxes]]\nname = "QST"\n', ["taxes[0].rate: required"]),
    ('[[taxes]]\nname = "GST"\nrate = "5"\n[[taxes]]\nname = "GST"\nrate = "5"\n',
     ["taxes[1].name: duplicate of taxes[0].name"]),
    ('[[taxes]]\nname = "GST"\nrate_basis_points = 500\nrate = "5"\n',
     ["taxes[0].rate_basis_points: unknown key"]),
    ('[[fees]]\nname = "Booking"\nkind = "percent"\npercent = 150\n',
     ["fees[0].percent: a percentage fee's amount is in basis points (100 = 1 %) from 0 to "
      "10000 (100 %)"]),
    ('[[fees]]\nname = "Booking"\nkind = "percent"\npercent = "3.333"\n',
     ["fees[0].percent: use at most 2 decimals: rates are stored in basis points (0.01 %)"]),
    ('[[fees]]\nname = "Booking"\nkind = "percent"\namount = 15000\n',
     ["fees[0].amount: not for a percent fee (use percent)"]),
    ('[[fees]]\nname = "Cleaning"\nkind = "fixed"\namount = 100000001\n',
     ["fees[0].amount: must be at most 100000000"]),
    ('[[fees]]\nname = "Cleaning"\nkind = "fixed"\npercent = 5\n',
     ["fees[0].percent: not for a fixed fee (use amount, in minor units)"]),
    ('[[fees]]\nname = "Cleaning"\nkind = "flat"\namount = 5\n',
     ["fees[0].kind: must be one of 'fixed', 'percent'"]),
])
def test_each_tax_and_fee_rule_is_reported_and_nothing_is_written(db, tmp_path, section,
                                                                   problems):
    before = row_counts(), TaxRate.objects.count(), Fee.objects.count()
    with pytest.raises(StudioFileError) as raised:
        import_studio_file(write(tmp_path, MINIMAL + "\n" + section))
    assert raised.value.problems == problems
    assert (row_counts(), TaxRate.objects.count(), Fee.objects.count()) == before


def test_replace_keeps_taxes_and_fees_unless_the_file_lists_them(db, tmp_path):
    import_studio_file(write(tmp_path, TAXES_AND_FEES))
    import_studio_file(write(tmp_path, MINIMAL), replace=True)  # no taxes, no fees keys
    assert (TaxRate.objects.count(), Fee.objects.count()) == (3, 2)
    import_studio_file(write(tmp_path, MINIMAL + '\n[[taxes]]\nname = "HST"\nrate = "13"\n'),
                       replace=True)
    assert list(TaxRate.objects.values_list("name", "rate_ppm")) == [("HST", 130_000)]
    assert Fee.objects.count() == 2
    import_studio_file(write(tmp_path, "fees = []\n" + MINIMAL), replace=True)
    assert Fee.objects.count() == 0


def test_a_file_without_taxes_or_fees_has_none():
    spec = parse_studio_toml(MINIMAL, "inline")
    assert (spec.taxes, spec.fees) == (None, None)
