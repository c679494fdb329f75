"""Money: exact half-even rounding, quotes with taxes, fees and deposits, and
proportional splits (pure, Django-free).

Conventions
-----------
* Money is ``int`` minor units of the quote's currency (cents for CAD/USD/EUR,
  yen for JPY).  No floats anywhere; all arithmetic is on Python ints, which are
  exact and unbounded, so no ``Decimal`` is needed either.
* Percentages are ``int`` 0..100.  Percentage fees are ``int`` basis points
  (1 bp = 0.01 %) 0..:data:`MAX_PERCENT_FEE_BASIS_POINTS`; fixed fees are minor
  units 0..:data:`MAX_FIXED_FEE_MINOR`.
* Tax rates are ``int`` parts per million (1 ppm = 0.0001 %) 0..
  :data:`MAX_TAX_RATE_PPM` (``130_000`` = 13 % Ontario HST, ``50_000`` = 5 %
  GST, ``99_750`` = 9.975 % Quebec QST, exactly).  Typed as a decimal percent
  with at most four decimals (:func:`ppm_from_percent`).
* The limits above are defined here, once; the API schemas, the management
  forms, the studio services and the studio file read them from this module,
  so nothing they accept can later fail a quote.
* ONE rounding rule: every amount that is a fraction of another (each tax line,
  each percentage fee, the deposit, a refund percentage) is rounded
  half-to-even (banker's rounding) to a whole minor unit, once, at the line it
  belongs to.  Sums are then exact sums of the rounded lines, so a quote always
  adds up on the receipt.  Source: issue "Quotes" ("one documented rounding
  rule (half-even on each tax line)"); the same rule as :func:`price_for`.
* Errors are :class:`InvalidMoney` (a :class:`SchedulingError`, so a
  ``ValueError``) with ``code = "invalid_money"``; the message starts with the
  offending field, e.g. ``"taxes[1].name: duplicate tax name 'HST'"``.

Rules of :func:`build_quote` (source: recording-studio-prd.md 7.5 "base_price +
add-ons (services) x quantity; taxes & fees calculated server-side", 7.6
"Deposits: optional percentage (e.g., 25%)"; issue "Quotes"):

1. each line total = ``unit_price_minor * quantity`` (exact);
2. a ``"fixed"`` fee is its ``amount`` in minor units; a ``"percent"`` fee is
   ``basis_points_of(sum of line totals, amount)`` -- fees are never a
   percentage of other fees or of taxes;
3. ``subtotal = sum(line totals) + sum(fees)``;
4. each tax line = ``ppm_of(taxable base, rate_ppm)`` with taxable base =
   line totals + *taxable* fees.  Taxes are computed side by side on the
   pre-tax amount, never on each other (no tax-on-tax, which is how GST + QST
   and HST work today);
5. ``total = subtotal + sum(tax lines)``;
6. ``deposit = percent_of(total, deposit_percent)`` -- the deposit is a share
   of the tax-inclusive total, so it carries its share of the tax;
   ``balance = total - deposit``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

from .errors import SchedulingError

__all__ = [
    "Fee",
    "InvalidMoney",
    "MAX_FIXED_FEE_MINOR",
    "MAX_PERCENT_FEE_BASIS_POINTS",
    "MAX_TAX_RATE_PPM",
    "PPM_PER_UNIT",
    "PriceLine",
    "Quote",
    "QuoteLine",
    "TaxLine",
    "TaxRate",
    "basis_points_of",
    "build_quote",
    "basis_points_from_decimal",
    "decimal_amount",
    "format_basis_points",
    "format_money",
    "minor_from_decimal",
    "minor_unit_exponent",
    "format_percent_ppm",
    "percent_of",
    "ppm_from_percent",
    "ppm_of",
    "round_half_even",
    "split_proportionally",
]


class InvalidMoney(SchedulingError):
    """A money input is malformed: non-int or negative amount or quantity,
    percentage outside 0..100, basis points outside 0..10000, a fee or tax rate
    above its limit, currency that is not three uppercase ASCII letters,
    duplicate tax name, and so on.  The message starts with the offending field."""

    code = "invalid_money"


PPM_PER_UNIT = 1_000_000
"""Parts per million in a whole (100 %): a tax rate of ``PPM_PER_UNIT`` would be 100 %."""

MAX_TAX_RATE_PPM = 300_000
"""The highest tax rate a studio may charge on one tax line: 30 % (300 000 ppm).

Why 30 %: the highest standard VAT/GST rate anywhere in the OECD or the EU is Hungary's
27 % (OECD, *Consumption Tax Trends 2024*, table 2.A.1 "VAT/GST rates"; European
Commission, "VAT rates applied in the Member States", 2024), and the highest Canadian
combined sales tax is 15 % (HST in the Atlantic provinces; Quebec charges GST 5 % plus QST
9.975 % as two lines). No real tax a recording studio charges comes near 30 %, while a
typing slip such as "99.75" for "9.975" does; refusing it is the point. Each tax of a
studio is a separate line, so two lines of up to 30 % each are possible."""

MAX_PERCENT_FEE_BASIS_POINTS = 10_000
"""A percentage fee is at most 100 % (10 000 bp) of the booked lines."""

MAX_FIXED_FEE_MINOR = 100_000_000
"""A fixed fee is at most 10**8 minor units (CAD 1,000,000.00), as the API always said."""


_CURRENCY_RE = re.compile(r"[A-Z]{3}")

# ISO 4217 currencies whose minor unit is not 1/100.  Anything else is 2.
_ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
    "VND", "VUV", "XAF", "XOF", "XPF",
})
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_int(field: str, value: object, *, low: int | None = 0, high: int | None = None,
                 what: str = "") -> None:
    ok = _is_int(value)
    if ok and low is not None and value < low:  # type: ignore[operator]
        ok = False
    if ok and high is not None and value > high:  # type: ignore[operator]
        ok = False
    if ok:
        return
    if low is not None and high is not None:
        rule = f"must be an int {low}..{high}"
    elif low is not None:
        rule = "must be a non-negative int" if low == 0 else f"must be an int >= {low}"
    else:
        rule = "must be an int"
    raise InvalidMoney(f"{field}: {rule}{what}, got {value!r}")


def _require_text(field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidMoney(f"{field}: must be a non-empty string, got {value!r}")


def _require_currency(field: str, value: object) -> None:
    if not isinstance(value, str) or not _CURRENCY_RE.fullmatch(value):
        raise InvalidMoney(
            f"{field}: must be an ISO 4217 code of three uppercase letters, got {value!r}"
        )


# --------------------------------------------------------------------------- rounding


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest int, ties to even.

    Exact integer arithmetic for any int ``numerator`` (either sign) and int
    ``denominator > 0``; symmetric around zero (``-2.5 -> -2``).
    Raises :class:`InvalidMoney` for non-int input or ``denominator <= 0``.
    """
    _require_int("numerator", numerator, low=None)
    _require_int("denominator", denominator, low=1)
    quotient, remainder = divmod(numerator, denominator)
    # divmod floors, so 0 <= remainder < denominator whatever the sign of the numerator.
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def percent_of(amount_minor: int, percent: int) -> int:
    """``amount_minor * percent / 100`` rounded half-to-even (int minor units).

    ``amount_minor``: any int (refund maths may pass negatives); ``percent``:
    int 0..100.  Raises :class:`InvalidMoney` otherwise.
    """
    _require_int("amount_minor", amount_minor, low=None)
    _require_int("percent", percent, low=0, high=100)
    return round_half_even(amount_minor * percent, 100)


def basis_points_of(amount_minor: int, basis_points: int) -> int:
    """``amount_minor * basis_points / 10000`` rounded half-to-even.

    ``amount_minor``: any int; ``basis_points``: int 0..10000 (``1300`` =
    13 %).  Raises :class:`InvalidMoney` otherwise.
    """
    _require_int("amount_minor", amount_minor, low=None)
    _require_int("basis_points", basis_points, low=0, high=10_000)
    return round_half_even(amount_minor * basis_points, 10_000)


def ppm_of(amount_minor: int, rate_ppm: int) -> int:
    """``amount_minor * rate_ppm / 1_000_000`` rounded half-to-even (one tax line).

    ``amount_minor``: any int; ``rate_ppm``: int parts per million 0..1_000_000
    (``99_750`` = 9.975 %). Exact integer arithmetic. Raises :class:`InvalidMoney`
    otherwise."""
    _require_int("amount_minor", amount_minor, low=None)
    _require_int("rate_ppm", rate_ppm, low=0, high=PPM_PER_UNIT)
    return round_half_even(amount_minor * rate_ppm, PPM_PER_UNIT)


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class PriceLine:
    """An input line of a quote: a service's base price for the booked
    duration (quantity 1; see :func:`price_for`) or an add-on service x
    quantity.  ``unit_price_minor`` and ``quantity`` are non-negative ints.

    Raises :class:`InvalidMoney` for an empty description or a negative or
    non-int amount.
    """

    description: str
    unit_price_minor: int
    quantity: int = 1

    def __post_init__(self) -> None:
        _require_text("description", self.description)
        _require_int("unit_price_minor", self.unit_price_minor, what=" (minor units)")
        _require_int("quantity", self.quantity)


@dataclass(frozen=True, slots=True)
class Fee:
    """A studio fee added to the subtotal.

    ``kind = "fixed"``: ``amount`` is int minor units 0..:data:`MAX_FIXED_FEE_MINOR`.
    ``kind = "percent"``: ``amount`` is basis points 0..
    :data:`MAX_PERCENT_FEE_BASIS_POINTS` (100 %) of the sum of the quote's line
    totals (fees are never a percentage of other fees or taxes).
    ``taxable``: whether the fee is part of the taxable base.

    Raises :class:`InvalidMoney` for an empty name, an unknown kind or a bad
    amount.
    """

    name: str
    kind: Literal["fixed", "percent"]
    amount: int
    taxable: bool = True

    def __post_init__(self) -> None:
        _require_text("name", self.name)
        if self.kind == "fixed":
            _require_int("amount", self.amount, high=MAX_FIXED_FEE_MINOR,
                         what=" (minor units)")
        elif self.kind == "percent":
            _require_int("amount", self.amount, high=MAX_PERCENT_FEE_BASIS_POINTS,
                         what=" (basis points)")
        else:
            raise InvalidMoney(f"kind: must be 'fixed' or 'percent', got {self.kind!r}")
        if not isinstance(self.taxable, bool):
            raise InvalidMoney(f"taxable: must be a bool, got {self.taxable!r}")


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A named tax of a studio, e.g. ``TaxRate("HST", 130_000)`` (Ontario 13 %),
    ``TaxRate("GST", 50_000)`` + ``TaxRate("QST", 99_750)`` (Quebec 5 % + 9.975 %).
    ``rate_ppm``: int parts per million 0..:data:`MAX_TAX_RATE_PPM` (30 %).
    Raises :class:`InvalidMoney`."""

    name: str
    rate_ppm: int

    def __post_init__(self) -> None:
        _require_text("name", self.name)
        _require_int("rate_ppm", self.rate_ppm, high=MAX_TAX_RATE_PPM,
                     what=" (parts per million; 300000 = 30 %)")


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """An output line: ``total_minor = unit_price_minor * quantity`` (for a fee:
    ``description`` is the fee name, quantity 1, unit = total = the fee)."""

    description: str
    unit_price_minor: int
    quantity: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One tax of a quote: ``amount_minor = round_half_even(taxable_minor *
    rate_ppm / 1_000_000)`` (:func:`ppm_of`)."""

    name: str
    rate_ppm: int
    taxable_minor: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Result of :func:`build_quote`; every amount is int minor units of ``currency``.

    ``subtotal_minor`` = line totals + fees (pre-tax); ``tax_total_minor`` =
    sum of ``taxes``; ``total_minor`` = subtotal + taxes; ``deposit_minor`` =
    ``percent_of(total_minor, deposit_percent)``; ``balance_minor`` = total -
    deposit.  The identities hold exactly.
    """

    currency: str
    lines: tuple[QuoteLine, ...]
    fees: tuple[QuoteLine, ...]
    subtotal_minor: int
    taxes: tuple[TaxLine, ...]
    tax_total_minor: int
    total_minor: int
    deposit_percent: int
    deposit_minor: int
    balance_minor: int


# --------------------------------------------------------------------------- quote


def build_quote(
    *,
    currency: str,
    lines: Sequence[PriceLine],
    fees: Sequence[Fee] = (),
    taxes: Sequence[TaxRate] = (),
    deposit_percent: int = 0,
) -> Quote:
    """Price a booking: lines, fees, taxes, total, deposit and balance due.

    ``currency``: ISO 4217 code, three uppercase letters (``"CAD"``).
    ``lines``: :class:`PriceLine` (base price, add-ons x quantity); may be empty.
    ``fees``: :class:`Fee`; ``taxes``: :class:`TaxRate` with distinct names, in
    the order they should appear on the receipt.  ``deposit_percent``: int 0..100.

    The rules (line totals, fees on line totals only, every tax on the pre-tax
    taxable base, half-even per tax line, deposit of the tax-inclusive total)
    are listed in this module's docstring.

    Raises :class:`InvalidMoney` naming the field, e.g. ``"currency: must be an
    ISO 4217 code ..."``, ``"lines[2]: must be a PriceLine"``, ``"taxes[1].name:
    duplicate tax name 'HST'"``, ``"deposit_percent: must be an int 0..100"``.

    Example (Ontario, HST 13 %, 25 % deposit): lines totalling 28 500 ->
    tax 3 705, total 32 205, deposit 8 051 (8 051.25 rounded), balance 24 154.
    """
    _require_currency("currency", currency)
    _require_int("deposit_percent", deposit_percent, low=0, high=100)
    for field, items, kind in (("lines", lines, PriceLine), ("fees", fees, Fee),
                               ("taxes", taxes, TaxRate)):
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InvalidMoney(f"{field}: must be a sequence of {kind.__name__}")
        for index, item in enumerate(items):
            if not isinstance(item, kind):
                raise InvalidMoney(f"{field}[{index}]: must be a {kind.__name__}, got {item!r}")
    seen: dict[str, int] = {}
    for index, tax in enumerate(taxes):
        if tax.name in seen:
            raise InvalidMoney(
                f"taxes[{index}].name: duplicate tax name {tax.name!r} "
                f"(also taxes[{seen[tax.name]}])"
            )
        seen[tax.name] = index

    quote_lines = tuple(
        QuoteLine(line.description, line.unit_price_minor, line.quantity,
                  line.unit_price_minor * line.quantity)
        for line in lines
    )
    lines_total = sum(line.total_minor for line in quote_lines)

    fee_lines: list[QuoteLine] = []
    taxable = lines_total
    for fee in fees:
        amount = fee.amount if fee.kind == "fixed" else basis_points_of(lines_total, fee.amount)
        fee_lines.append(QuoteLine(fee.name, amount, 1, amount))
        if fee.taxable:
            taxable += amount
    subtotal = lines_total + sum(line.total_minor for line in fee_lines)

    tax_lines = tuple(
        TaxLine(tax.name, tax.rate_ppm, taxable, ppm_of(taxable, tax.rate_ppm))
        for tax in taxes
    )
    tax_total = sum(line.amount_minor for line in tax_lines)
    total = subtotal + tax_total
    deposit = percent_of(total, deposit_percent)
    return Quote(
        currency=currency,
        lines=quote_lines,
        fees=tuple(fee_lines),
        subtotal_minor=subtotal,
        taxes=tax_lines,
        tax_total_minor=tax_total,
        total_minor=total,
        deposit_percent=deposit_percent,
        deposit_minor=deposit,
        balance_minor=total - deposit,
    )


# --------------------------------------------------------------------------- splitting


def split_proportionally(amount_minor: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount_minor`` over ``weights`` by the largest-remainder method.

    Typical use: a partial refund spread over what was charged, e.g.
    ``split_proportionally(refund, [subtotal, gst, qst])``.

    ``amount_minor``: int >= 0.  ``weights``: ints >= 0.  Returns one int per
    weight such that

    * the parts sum to exactly ``amount_minor``;
    * part ``i`` is ``floor(amount * w_i / W)`` or that plus one (``W`` =
      ``sum(weights)``): the units left over after flooring go one each to the
      parts with the largest remainders ``amount * w_i mod W``, ties to the lower
      index (deterministic);
    * a zero weight gets 0; when ``amount_minor <= W`` every part is ``<=`` its
      weight (so a refund never returns more of a tax than was charged).

    Raises :class:`InvalidMoney` for negative or non-int input, or a positive
    amount with all weights zero (or no weights).
    """
    _require_int("amount_minor", amount_minor)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise InvalidMoney("weights: must be a sequence of ints")
    for index, weight in enumerate(weights):
        _require_int(f"weights[{index}]", weight)
    total_weight = sum(weights)
    if total_weight == 0:
        if amount_minor:
            raise InvalidMoney("weights: cannot split a positive amount over zero weights")
        return [0] * len(weights)
    parts: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, weight in enumerate(weights):
        part, remainder = divmod(amount_minor * weight, total_weight)
        parts.append(part)
        remainders.append((-remainder, index))
    leftover = amount_minor - sum(parts)
    # sum(remainders) == leftover * W and each remainder < W, so more than ``leftover``
    # parts have a positive remainder: zero weights (remainder 0) are never topped up.
    for _, index in sorted(remainders)[:leftover]:
        parts[index] += 1
    return parts


# --------------------------------------------------------------------------- display


def minor_unit_exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit: 0 (JPY, KRW, ...), 3 (KWD,
    BHD, ...) or 2 (everything else).  Source: ISO 4217.  Raises
    :class:`InvalidMoney` for a malformed code."""
    _require_currency("currency", currency)
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def format_money(amount_minor: int, currency: str) -> str:
    """Locale-neutral display of int minor units: ``format_money(123450, "CAD")
    == "CAD 1,234.50"``, ``format_money(500, "JPY") == "JPY 500"``,
    ``format_money(-5, "USD") == "USD -0.05"``.  Raises :class:`InvalidMoney`."""
    _require_int("amount_minor", amount_minor, low=None)
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    text = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    return f"{currency} {sign}{text}"


def format_basis_points(basis_points: int) -> str:
    """A rate in basis points as a percent number without trailing zeros:
    ``format_basis_points(1300) == "13"``, ``(1250) == "12.5"``, ``(998) == "9.98"``,
    ``(5) == "0.05"``. Raises :class:`InvalidMoney` for a non-int or negative value."""
    _require_int("basis_points", basis_points)
    whole, rest = divmod(basis_points, 100)
    return f"{whole}" if not rest else f"{whole}.{rest:02d}".rstrip("0")


# Typed amounts and rates: plain decimals only ("95.50", ".5", "13"): no signs, exponents,
# grouping or currency symbols, so that what a person typed is exactly what is stored.
_PLAIN_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_DECIMAL_TEXT = 30


def _scaled_exactly(text: str, places: int, *, field: str, unit: str) -> int:
    """``text`` times 10**``places`` as an int, or InvalidMoney (message ``field: sentence``)
    when it is not a plain non-negative decimal or has more than ``places`` decimals."""
    text = (text or "").strip()
    if len(text) > _MAX_DECIMAL_TEXT:
        raise InvalidMoney(f"{field}: enter a shorter number")
    if text.startswith("-") and _PLAIN_DECIMAL.fullmatch(text[1:]):
        raise InvalidMoney(f"{field}: enter zero or more")
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise InvalidMoney(f"{field}: enter a number such as 95.50 (digits and a point, no "
                           "commas or currency signs)")
    with localcontext() as context:
        context.prec = 4 * _MAX_DECIMAL_TEXT  # far above any accepted number: exact
        scaled = Decimal(text).scaleb(places)
        if scaled % 1:
            raise InvalidMoney(f"{field}: {unit}")
        return int(scaled)


def minor_from_decimal(text: str, currency: str, *, field: str = "amount") -> int:
    """A typed amount in ``currency``'s major unit as int minor units, exactly:
    ``minor_from_decimal("95.50", "CAD") == 9550``, ``("500", "JPY") == 500``. Never rounds.
    Raises :class:`InvalidMoney` (message ``"<field>: <sentence>"``) for text that is not a
    plain non-negative decimal, or with more decimals than the currency has (ISO 4217)."""
    places = minor_unit_exponent(currency)
    unit = (f"{currency} amounts have at most {places} decimals" if places
            else f"{currency} amounts have no decimals")
    return _scaled_exactly(text, places, field=field, unit=unit)


def basis_points_from_decimal(text: str, *, field: str = "rate") -> int:
    """A typed percentage as int basis points, exactly: ``"13"`` -> 1300, ``"9.98"`` -> 998.
    Raises :class:`InvalidMoney` for text that is not a plain non-negative decimal, or with
    more than two decimals (``"9.975"``: basis points cannot hold it)."""
    return _scaled_exactly(text, 2, field=field,
                           unit="use at most 2 decimals: rates are stored in basis points "
                                "(0.01 %)")


def ppm_from_percent(text: str, *, field: str = "rate") -> int:
    """A typed percentage as int parts per million, exactly: ``"13"`` -> 130000,
    ``"9.975"`` -> 99750, ``"0.0001"`` -> 1. Never rounds. Raises :class:`InvalidMoney`
    (message ``"<field>: <sentence>"``) for text that is not a plain non-negative decimal,
    or with more than four decimals. The range is the caller's (:data:`MAX_TAX_RATE_PPM`
    for tax rates)."""
    return _scaled_exactly(text, 4, field=field,
                           unit="use at most 4 decimals (e.g. 9.975)")


def format_percent_ppm(rate_ppm: int) -> str:
    """A rate in parts per million as a percent number without trailing zeros, the text
    :func:`ppm_from_percent` reads back: ``130000`` -> ``"13"``, ``99750`` -> ``"9.975"``,
    ``125000`` -> ``"12.5"``, ``1`` -> ``"0.0001"``. Raises :class:`InvalidMoney` for a
    non-int or negative value."""
    _require_int("rate_ppm", rate_ppm)
    whole, rest = divmod(rate_ppm, 10_000)
    return f"{whole}" if not rest else f"{whole}.{rest:04d}".rstrip("0")


def decimal_amount(amount_minor: int, currency: str) -> str:
    """Int minor units as a plain decimal in the major unit, the text
    :func:`minor_from_decimal` reads back: ``decimal_amount(123450, "CAD") == "1234.50"``,
    ``(-5, "USD") == "-0.05"``, ``(500, "JPY") == "500"``. Raises :class:`InvalidMoney`."""
    _require_int("amount_minor", amount_minor, low=None)
    return format(Decimal(amount_minor).scaleb(-minor_unit_exponent(currency)), "f")
