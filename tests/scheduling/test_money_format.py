"""Typed and shown amounts and rates: decimal text <-> int minor units and basis points,
exact in both directions (never rounded)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studiobook.scheduling.money import (
    InvalidMoney,
    basis_points_from_decimal,
    decimal_amount,
    format_basis_points,
    minor_from_decimal,
)


@pytest.mark.parametrize(("basis_points", "text"), [
    (1300, "13"), (1250, "12.5"), (998, "9.98"), (5, "0.05"), (0, "0"), (10_000, "100")])
def test_basis_points_as_percent_text(basis_points, text):
    assert format_basis_points(basis_points) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_the_text_reads_back_as_the_same_number_of_basis_points(basis_points):
    from decimal import Decimal

    assert Decimal(format_basis_points(basis_points)) * 100 == basis_points


@pytest.mark.parametrize("bad", [-1, 12.5, "13"])
def test_non_int_or_negative_rates_are_refused(bad):
    with pytest.raises(InvalidMoney):
        format_basis_points(bad)


def test_decimal_amounts():
    assert [decimal_amount(a, c) for a, c in [(123450, "CAD"), (-5, "USD"), (500, "JPY"),
                                              (0, "CAD"), (1234, "KWD")]] == [
        "1234.50", "-0.05", "500", "0.00", "1.234"]


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("95.50", "CAD", 9550), ("95.5", "CAD", 9550), (".5", "CAD", 50), ("95", "CAD", 9500),
    (" 7.25 ", "USD", 725), ("500", "JPY", 500), ("1.234", "KWD", 1234), ("0", "CAD", 0)])
def test_typed_amounts_in_minor_units(text, currency, minor):
    assert minor_from_decimal(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("95.505", "CAD", "amount: CAD amounts have at most 2 decimals"),
    ("500.5", "JPY", "amount: JPY amounts have no decimals"),
    ("-1", "CAD", "amount: enter zero or more"),
    ("1e3", "CAD", "amount: enter a number such as 95.50 (digits and a point, no commas or "
                   "currency signs)"),
    ("1,000", "CAD", "amount: enter a number such as 95.50 (digits and a point, no commas or "
                     "currency signs)"),
    ("CAD 5", "CAD", "amount: enter a number such as 95.50 (digits and a point, no commas or "
                     "currency signs)"),
    ("9" * 31, "CAD", "amount: enter a shorter number"),
])
def test_amounts_that_would_need_rounding_or_guessing_are_refused(text, currency, message):
    with pytest.raises(InvalidMoney) as raised:
        minor_from_decimal(text, currency)
    assert str(raised.value) == message


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["CAD", "JPY", "KWD"]))
def test_shown_amounts_read_back_exactly(minor, currency):
    assert minor_from_decimal(decimal_amount(minor, currency), currency) == minor


@given(st.integers(min_value=0, max_value=10**9))
def test_shown_rates_read_back_exactly(basis_points):
    assert basis_points_from_decimal(format_basis_points(basis_points)) == basis_points


def test_a_rate_basis_points_cannot_hold_is_refused():
    with pytest.raises(InvalidMoney, match="rate: use at most 2 decimals"):
        basis_points_from_decimal("9.975")
