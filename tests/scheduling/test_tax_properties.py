"""Tax arithmetic in parts per million against an independent ``decimal.Decimal`` reference:
each tax line is the exact product rounded once, half-to-even, to a whole minor unit; rates
typed as a decimal percent are stored exactly; the bound is the one documented
(``MAX_TAX_RATE_PPM``)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studiobook.scheduling import (
    MAX_TAX_RATE_PPM,
    InvalidMoney,
    PriceLine,
    TaxRate,
    build_quote,
    format_percent_ppm,
    ppm_from_percent,
    ppm_of,
)

amounts = st.integers(min_value=0, max_value=10**12)
rates = st.integers(min_value=0, max_value=MAX_TAX_RATE_PPM)


def reference_tax(amount_minor: int, percent_text: str) -> int:
    """The tax of ``amount_minor`` at ``percent_text`` % by Decimal arithmetic: exact
    product (enough precision for any input here), then one half-even quantize."""
    with localcontext() as context:
        context.prec = 80
        exact = Decimal(amount_minor) * Decimal(percent_text) / Decimal(100)
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@given(amounts, rates)
def test_a_tax_line_equals_the_decimal_reference(amount, rate_ppm):
    assert ppm_of(amount, rate_ppm) == reference_tax(amount, format_percent_ppm(rate_ppm))


@given(amounts, rates)
def test_a_tax_line_is_within_half_a_unit_and_ties_go_to_even(amount, rate_ppm):
    tax = ppm_of(amount, rate_ppm)
    twice_error = 2 * (tax * 1_000_000 - amount * rate_ppm)  # 2 x (rounded - exact) x 10^6
    assert abs(twice_error) <= 1_000_000
    if abs(twice_error) == 1_000_000:  # a tie
        assert tax % 2 == 0


@given(rates)
def test_a_rate_typed_as_a_percent_is_stored_exactly(rate_ppm):
    text = format_percent_ppm(rate_ppm)
    assert ppm_from_percent(text) == rate_ppm
    assert Decimal(text) * 10_000 == rate_ppm


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=5),
       st.lists(rates, min_size=1, max_size=4))
def test_each_tax_of_a_quote_is_rounded_on_its_own_line(line_amounts, tax_rates):
    taxes = [TaxRate(f"T{index}", rate) for index, rate in enumerate(tax_rates)]
    quote = build_quote(currency="CAD", lines=[PriceLine("x", a) for a in line_amounts],
                        taxes=taxes)
    base = sum(line_amounts)
    assert [line.amount_minor for line in quote.taxes] == [
        reference_tax(base, format_percent_ppm(rate)) for rate in tax_rates]
    assert quote.tax_total_minor == sum(line.amount_minor for line in quote.taxes)
    assert quote.total_minor == base + quote.tax_total_minor


@pytest.mark.parametrize("rate_ppm", [MAX_TAX_RATE_PPM + 1, 997_500, 1_000_000, -1])
def test_a_rate_above_the_documented_bound_is_refused(rate_ppm):
    with pytest.raises(InvalidMoney, match=r"^rate_ppm: must be an int 0\.\.300000"):
        TaxRate("QST", rate_ppm)


def test_quebec_qst_is_exact():
    assert ppm_from_percent("9.975") == 99_750
    assert format_percent_ppm(99_750) == "9.975"
    # 12 345 * 9.975 % = 1 231.41375 -> 1 231; 2 000 * 9.975 % = 199.5 -> 200 (even).
    assert (ppm_of(12_345, 99_750), ppm_of(2_000, 99_750)) == (1_231, 200)
