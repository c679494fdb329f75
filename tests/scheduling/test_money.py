"""Quotes (lines, fees, taxes, deposit), half-even rounding and proportional splits.

Exact assertions on hand-computed examples, and hypothesis properties checked
against ``fractions.Fraction`` (whose ``round()`` is an independent half-to-even
implementation).
"""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studiobook.scheduling import (
    MAX_TAX_RATE_PPM,
    Fee,
    InvalidMoney,
    PriceLine,
    Quote,
    QuoteLine,
    SchedulingError,
    TaxLine,
    TaxRate,
    basis_points_of,
    build_quote,
    format_money,
    minor_unit_exponent,
    percent_of,
    round_half_even,
    split_proportionally,
)

HST = TaxRate("HST", 130_000)
GST = TaxRate("GST", 50_000)
# 9.98 % exercises ties that the real QST (9.975 %, QST_REAL) has too: both are exact in
# parts per million.
QST = TaxRate("QST", 99_800)
QST_REAL = TaxRate("QST", 99_750)

# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (1, 2, 0),  # 0.5 -> 0
        (3, 2, 2),  # 1.5 -> 2
        (5, 2, 2),  # 2.5 -> 2
        (7, 2, 4),  # 3.5 -> 4
        (-1, 2, 0),  # -0.5 -> 0
        (-3, 2, -2),  # -1.5 -> -2
        (-5, 2, -2),  # -2.5 -> -2
        (5, 3, 2),  # 1.67 -> 2
        (4, 3, 1),  # 1.33 -> 1
        (0, 7, 0),
        (10**30 + 5, 10, 10**29),  # exact far beyond float precision: ...0.5 -> even
        (10**30 + 15, 10, 10**29 + 2),
    ],
)
def test_round_half_even(numerator, denominator, expected):
    got = round_half_even(numerator, denominator)
    assert got == expected and type(got) is int


@pytest.mark.parametrize(
    ("args", "field"),
    [((1, 0), "denominator"), ((1, -2), "denominator"), ((1.5, 2), "numerator"),
     ((True, 2), "numerator"), ((1, 2.0), "denominator")],
)
def test_round_half_even_rejects_bad_input(args, field):
    with pytest.raises(InvalidMoney, match=rf"^{field}: "):
        round_half_even(*args)


def test_percent_and_basis_points():
    assert percent_of(32205, 25) == 8051  # 8051.25
    assert percent_of(8051, 50) == 4026  # 4025.5 -> even
    assert percent_of(8053, 50) == 4026  # 4026.5 -> even
    assert percent_of(999, 100) == 999
    assert percent_of(999, 0) == 0
    assert basis_points_of(28500, 1300) == 3705
    assert basis_points_of(12350, 500) == 618  # 617.5 -> even
    assert basis_points_of(12330, 500) == 616  # 616.5 -> even
    assert basis_points_of(2500, 998) == 250  # 249.5 -> even
    assert basis_points_of(7500, 998) == 748  # 748.5 -> even
    assert basis_points_of(100, 10_000) == 100


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: percent_of(100, 101), r"^percent: must be an int 0\.\.100, got 101"),
        (lambda: percent_of(100, -1), r"^percent: "),
        (lambda: percent_of(100, 12.5), r"^percent: "),
        (lambda: percent_of(1.0, 10), r"^amount_minor: "),
        (lambda: basis_points_of(100, 10_001), r"^basis_points: must be an int 0\.\.10000"),
        (lambda: basis_points_of(100, True), r"^basis_points: "),
    ],
)
def test_percent_helpers_reject_bad_input(call, message):
    with pytest.raises(InvalidMoney, match=message):
        call()


# --------------------------------------------------------------------------- quotes


def test_ontario_hst_quote_with_deposit():
    quote = build_quote(
        currency="CAD",
        lines=[PriceLine("Tracking room, 3 h", 28500)],
        taxes=[HST],
        deposit_percent=25,
    )
    assert quote == Quote(
        currency="CAD",
        lines=(QuoteLine("Tracking room, 3 h", 28500, 1, 28500),),
        fees=(),
        subtotal_minor=28500,
        taxes=(TaxLine("HST", 130_000, 28500, 3705),),
        tax_total_minor=3705,
        total_minor=32205,
        deposit_percent=25,
        deposit_minor=8051,  # 8051.25
        balance_minor=24154,
    )


def test_quebecs_real_qst_of_9_975_percent_is_exact_per_line():
    # 10000 * 9.975 % = 997.5 -> 998 (even); 20000 * 9.975 % = 1995 exactly;
    # 2000 * 9.975 % = 199.5 -> 200 (even); 6000 * 9.975 % = 598.5 -> 598 (even).
    for base, tax in ((10000, 998), (20000, 1995), (2000, 200), (6000, 598), (1, 0)):
        quote = build_quote(currency="CAD", lines=[PriceLine("Mixing", base)],
                            taxes=[GST, QST_REAL])
        assert quote.taxes[1] == TaxLine("QST", 99_750, base, tax)
    assert TaxRate("QST", MAX_TAX_RATE_PPM).rate_ppm == 300_000


def test_quebec_gst_and_qst_are_side_by_side_with_half_even_ties():
    # 12350 * 5 % = 617.5 -> 618 (even); 12350 * 9.98 % = 1232.53 -> 1233.
    quote = build_quote(currency="CAD", lines=[PriceLine("Mixing", 12350)], taxes=[GST, QST])
    assert quote.taxes == (TaxLine("GST", 50_000, 12350, 618),
                           TaxLine("QST", 99_800, 12350, 1233))
    assert (quote.tax_total_minor, quote.total_minor) == (1851, 14201)
    # QST is on the pre-tax base, never on GST: 2500 * 9.98 % = 249.5 -> 250 (even).
    quote = build_quote(currency="CAD", lines=[PriceLine("Mixing", 2500)], taxes=[GST, QST])
    assert quote.taxes == (TaxLine("GST", 50_000, 2500, 125),
                           TaxLine("QST", 99_800, 2500, 250))
    assert quote.total_minor == 2875
    # 7500 * 9.98 % = 748.5 -> 748 (even), 12330 * 5 % = 616.5 -> 616 (even).
    assert build_quote(currency="CAD", lines=[PriceLine("x", 7500)],
                       taxes=[QST]).tax_total_minor == 748
    assert build_quote(currency="CAD", lines=[PriceLine("x", 12330)],
                       taxes=[GST]).tax_total_minor == 616


def test_add_ons_times_quantity_percent_fee_and_non_taxable_fixed_fee():
    quote = build_quote(
        currency="CAD",
        lines=[
            PriceLine("Tracking room, 4 h", 40000),
            PriceLine("Engineer, per hour", 4500, quantity=4),
            PriceLine("Tape reel", 12999, quantity=2),
            PriceLine("Vintage mic rental", 2500, quantity=0),
        ],
        fees=[
            Fee("Service fee", "percent", 350),  # 3.5 % of the lines
            Fee("Card surcharge", "fixed", 199, taxable=False),
        ],
        taxes=[HST],
        deposit_percent=30,
    )
    lines_total = 40000 + 18000 + 25998 + 0
    assert [line.total_minor for line in quote.lines] == [40000, 18000, 25998, 0]
    assert quote.lines[1] == QuoteLine("Engineer, per hour", 4500, 4, 18000)
    # 83998 * 3.5 % = 2939.93 -> 2940
    assert quote.fees == (QuoteLine("Service fee", 2940, 1, 2940),
                          QuoteLine("Card surcharge", 199, 1, 199))
    assert quote.subtotal_minor == lines_total + 2940 + 199 == 87137
    # Taxable base excludes the non-taxable fee: 86938 * 13 % = 11301.94 -> 11302
    assert quote.taxes == (TaxLine("HST", 130_000, 86938, 11302),)
    assert quote.total_minor == 98439
    assert quote.deposit_minor == 29532  # 29531.7
    assert quote.balance_minor == 68907


def test_percent_fee_is_on_lines_only_and_tie_rounds_to_even():
    quote = build_quote(
        currency="USD",
        lines=[PriceLine("Session", 1000)],
        fees=[Fee("Booking", "fixed", 500), Fee("Platform", "percent", 250)],  # 25.0 exactly
    )
    assert [f.total_minor for f in quote.fees] == [500, 25]
    quote = build_quote(currency="USD", lines=[PriceLine("Session", 50)],
                        fees=[Fee("Platform", "percent", 500)])  # 2.5 -> 2
    assert quote.fees[0].total_minor == 2
    assert quote.total_minor == 52


def test_quote_without_taxes_fees_or_lines():
    empty = build_quote(currency="EUR", lines=[])
    assert (empty.subtotal_minor, empty.total_minor, empty.deposit_minor,
            empty.balance_minor) == (0, 0, 0, 0)
    full = build_quote(currency="JPY", lines=[PriceLine("Room", 15000)], deposit_percent=100)
    assert (full.deposit_minor, full.balance_minor) == (15000, 0)


def test_zero_rate_tax_still_appears_on_the_quote():
    quote = build_quote(currency="CAD", lines=[PriceLine("x", 999)], taxes=[TaxRate("PST", 0)])
    assert quote.taxes == (TaxLine("PST", 0, 999, 0),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"currency": "cad"}, r"^currency: must be an ISO 4217 code"),
        ({"currency": "CA"}, r"^currency: "),
        ({"currency": "CADX"}, r"^currency: "),
        ({"currency": 124}, r"^currency: "),
        ({"deposit_percent": 101}, r"^deposit_percent: must be an int 0\.\.100, got 101"),
        ({"deposit_percent": -1}, r"^deposit_percent: "),
        ({"deposit_percent": 25.0}, r"^deposit_percent: "),
        ({"taxes": [HST, TaxRate("HST", 500)]},
         r"^taxes\[1\]\.name: duplicate tax name 'HST' \(also taxes\[0\]\)"),
        ({"lines": [PriceLine("x", 1), ("y", 2)]}, r"^lines\[1\]: must be a PriceLine"),
        ({"lines": "abc"}, r"^lines: must be a sequence"),
        ({"fees": [HST]}, r"^fees\[0\]: must be a Fee"),
        ({"taxes": [Fee("x", "fixed", 1)]}, r"^taxes\[0\]: must be a TaxRate"),
    ],
)
def test_build_quote_rejects_bad_input(kwargs, message):
    args = {"currency": "CAD", "lines": [PriceLine("Room", 1000)]} | kwargs
    with pytest.raises(InvalidMoney, match=message) as info:
        build_quote(**args)
    assert info.value.code == "invalid_money"
    assert isinstance(info.value, SchedulingError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PriceLine("x", -1), r"^unit_price_minor: must be a non-negative int"),
        (lambda: PriceLine("x", 100, -2), r"^quantity: must be a non-negative int, got -2"),
        (lambda: PriceLine("x", 10.5), r"^unit_price_minor: "),
        (lambda: PriceLine("x", 100, True), r"^quantity: "),
        (lambda: PriceLine("", 100), r"^description: "),
        (lambda: Fee("x", "fixed", -1),
         r"^amount: must be an int 0\.\.100000000 \(minor units\)"),
        (lambda: Fee("x", "percent", 10_001), r"^amount: must be an int 0\.\.10000 \(basis"),
        (lambda: Fee("x", "flat", 1), r"^kind: must be 'fixed' or 'percent'"),
        (lambda: Fee("x", "fixed", 1, taxable=1), r"^taxable: must be a bool"),
        (lambda: TaxRate("HST", 300_001), r"^rate_ppm: must be an int 0\.\.300000"),
        (lambda: TaxRate("HST", -1), r"^rate_ppm: "),
        (lambda: TaxRate(" ", 100), r"^name: "),
    ],
)
def test_value_objects_validate(build, message):
    with pytest.raises(InvalidMoney, match=message):
        build()


def test_format_money():
    assert format_money(123450, "CAD") == "CAD 1,234.50"
    assert format_money(5, "USD") == "USD 0.05"
    assert format_money(-5, "USD") == "USD -0.05"
    assert format_money(1500, "JPY") == "JPY 1,500"
    assert format_money(1234, "KWD") == "KWD 1.234"
    assert [minor_unit_exponent(c) for c in ("EUR", "KRW", "BHD")] == [2, 0, 3]
    with pytest.raises(InvalidMoney, match=r"^currency: "):
        format_money(1, "usd")


# --------------------------------------------------------------------------- splitting


def test_split_proportionally_examples():
    # A 50 % refund of the HST quote, spread over revenue and tax.
    assert split_proportionally(16102, [28500, 3705]) == [14250, 1852]  # 14249.6, 1852.4
    assert split_proportionally(10, [1, 1, 1]) == [4, 3, 3]  # tie on remainder -> lower index
    assert split_proportionally(2, [1, 1, 1]) == [1, 1, 0]
    assert split_proportionally(1, [0, 5, 5, 0]) == [0, 1, 0, 0]
    assert split_proportionally(0, [0, 0]) == [0, 0]
    assert split_proportionally(0, []) == []
    assert split_proportionally(7, [3, 4]) == [3, 4]
    assert split_proportionally(14, [3, 4]) == [6, 8]  # amount above the weights: scaled up
    assert split_proportionally(5, [2, 0, 3]) == [2, 0, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, [1]), r"^amount_minor: "),
        ((1, [1, -1]), r"^weights\[1\]: "),
        ((1, [0, 0]), r"^weights: cannot split a positive amount over zero weights"),
        ((1, []), r"^weights: cannot split"),
        ((1, "12"), r"^weights: must be a sequence"),
    ],
)
def test_split_proportionally_rejects_bad_input(args, message):
    with pytest.raises(InvalidMoney, match=message):
        split_proportionally(*args)


# --------------------------------------------------------------------------- properties

amounts = st.integers(min_value=0, max_value=10**9)
price_lines = st.builds(
    PriceLine,
    description=st.sampled_from(["Room", "Engineer", "Mic", "Tape"]),
    unit_price_minor=st.integers(min_value=0, max_value=10**7),
    quantity=st.integers(min_value=0, max_value=50),
)
fees = st.one_of(
    st.builds(Fee, name=st.just("Fixed"), kind=st.just("fixed"),
              amount=st.integers(min_value=0, max_value=10**5), taxable=st.booleans()),
    st.builds(Fee, name=st.just("Percent"), kind=st.just("percent"),
              amount=st.integers(min_value=0, max_value=10_000), taxable=st.booleans()),
)
tax_lists = st.lists(st.integers(min_value=0, max_value=300_000), max_size=4).map(
    lambda rates: [TaxRate(f"T{i}", rate) for i, rate in enumerate(rates)]
)


@given(
    lines=st.lists(price_lines, max_size=6),
    fee_list=st.lists(fees, max_size=3),
    taxes=tax_lists,
    deposit_percent=st.integers(min_value=0, max_value=100),
)
def test_quote_invariants(lines, fee_list, taxes, deposit_percent):
    quote = build_quote(currency="CAD", lines=lines, fees=fee_list, taxes=taxes,
                        deposit_percent=deposit_percent)
    lines_total = sum(line.unit_price_minor * line.quantity for line in lines)
    assert [q.total_minor for q in quote.lines] == [
        line.unit_price_minor * line.quantity for line in lines
    ]
    assert quote.subtotal_minor == lines_total + sum(f.total_minor for f in quote.fees)
    assert quote.tax_total_minor == sum(t.amount_minor for t in quote.taxes)
    assert quote.total_minor == quote.subtotal_minor + quote.tax_total_minor
    assert quote.deposit_minor + quote.balance_minor == quote.total_minor
    assert 0 <= quote.deposit_minor <= quote.total_minor
    assert quote.deposit_minor == round(Fraction(quote.total_minor * deposit_percent, 100))
    taxable = lines_total + sum(
        line.total_minor for line, fee in zip(quote.fees, fee_list, strict=True) if fee.taxable
    )
    for fee, line in zip(fee_list, quote.fees, strict=True):
        expected = fee.amount if fee.kind == "fixed" else round(
            Fraction(lines_total * fee.amount, 10_000))
        assert line.total_minor == expected
    for tax, line in zip(taxes, quote.taxes, strict=True):
        assert line.taxable_minor == taxable
        exact = Fraction(taxable * tax.rate_ppm, 1_000_000)
        assert line.amount_minor == round(exact)  # Fraction rounds half to even
    assert all(type(v) is int for v in (quote.subtotal_minor, quote.tax_total_minor,
                                        quote.total_minor, quote.deposit_minor))


@given(st.integers(min_value=-(10**20), max_value=10**20),
       st.integers(min_value=1, max_value=10**6))
def test_round_half_even_matches_fraction_round(numerator, denominator):
    assert round_half_even(numerator, denominator) == round(Fraction(numerator, denominator))


@given(amounts, st.integers(min_value=0, max_value=10_000))
def test_basis_points_of_rounds_half_to_even(amount, bp):
    assert basis_points_of(amount, bp) == round(Fraction(amount * bp, 10_000))


@given(st.lists(st.integers(min_value=0, max_value=10**7), max_size=8), st.data())
def test_split_proportionally_properties(weights, data):
    total_weight = sum(weights)
    if total_weight == 0:
        assert split_proportionally(0, weights) == [0] * len(weights)
        return
    amount = data.draw(st.integers(min_value=0, max_value=total_weight * 2))
    parts = split_proportionally(amount, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == amount
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount * weight, total_weight)
        assert 0 <= part - exact < 1 or -1 < part - exact <= 0  # floor or floor + 1
        if weight == 0:
            assert part == 0
        if amount <= total_weight:
            assert part <= weight
    assert split_proportionally(amount, weights) == parts  # deterministic
