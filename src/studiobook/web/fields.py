"""Form fields shared by the pages: money typed as a decimal in the studio's currency and
rates typed as a percentage, both exact (``scheduling.money``: plain decimals only, never
rounded), with the core's refusals shown as sentences next to the field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from studiobook import limits
from studiobook.scheduling.money import (
    MAX_PERCENT_FEE_BASIS_POINTS,
    MAX_TAX_RATE_PPM,
    InvalidMoney,
    basis_points_from_decimal,
    decimal_amount,
    format_basis_points,
    format_percent_ppm,
    minor_from_decimal,
    ppm_from_percent,
)

MAX_MINOR = 10**9  # the API's bound on prices (ServiceIn.base_price_cents)


def _sentence(error: InvalidMoney) -> str:
    """The core's ``"field: enter zero or more"`` as the form's "Enter zero or more."."""
    text = str(error).split(": ", 1)[-1]
    return text[:1].upper() + text[1:] + "."


def parse_amount(text: str, currency: str, *, maximum: int = MAX_MINOR) -> int:
    """``"95.50"`` in ``currency`` -> 9550 minor units, exactly (``scheduling.money.
    minor_from_decimal``: plain decimals only, never rounded). Raises ValidationError for
    what that refuses, and for more than ``maximum`` minor units."""
    try:
        minor = minor_from_decimal(text, currency)
    except InvalidMoney as error:
        raise ValidationError(_sentence(error), code="invalid") from error
    if minor > maximum:
        raise ValidationError(f"Enter at most {decimal_amount(maximum, currency)}.",
                              code="max_value")
    return minor


def parse_percent(text: str, *, maximum: int = MAX_PERCENT_FEE_BASIS_POINTS) -> int:
    """``"13"`` -> 1300 basis points, ``"9.98"`` -> 998, exactly (``scheduling.money.
    basis_points_from_decimal``). Raises ValidationError for what that refuses (``"9.975"``:
    basis points cannot hold it) and for more than ``maximum`` basis points (100 %)."""
    try:
        points = basis_points_from_decimal(text)
    except InvalidMoney as error:
        raise ValidationError(_sentence(error), code="invalid") from error
    if points > maximum:
        raise ValidationError(f"Enter at most {format_basis_points(maximum)} %.",
                              code="max_value")
    return points


def parse_tax_rate(text: str, *, maximum: int = MAX_TAX_RATE_PPM) -> int:
    """``"13"`` -> 130000 parts per million, ``"9.975"`` -> 99750, exactly (``scheduling.
    money.ppm_from_percent``: at most 4 decimals). Raises ValidationError for what that
    refuses and for more than ``maximum`` (30 %, ``scheduling.money.MAX_TAX_RATE_PPM``)."""
    try:
        rate_ppm = ppm_from_percent(text)
    except InvalidMoney as error:
        raise ValidationError(_sentence(error), code="invalid") from error
    if rate_ppm > maximum:
        raise ValidationError(f"Enter at most {format_percent_ppm(maximum)} %: no tax a studio "
                              "charges is higher (is a decimal point missing?).",
                              code="max_value")
    return rate_ppm


class AmountField(forms.CharField):
    """A money amount typed as a decimal in ``currency``; cleans to int minor units (empty
    and not required: 0). ``minimum``/``maximum``: the minor units accepted (``minimum=1``
    for a payment or a refund, which cannot be of nothing)."""

    def __init__(self, *, currency: str, maximum: int = MAX_MINOR, minimum: int = 0,
                 **kwargs):
        self.currency, self.maximum, self.minimum = currency, maximum, minimum
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal",
                                                           "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value)
        if text in self.empty_values:
            return 0
        amount = parse_amount(text, self.currency, maximum=self.maximum)
        if amount < self.minimum:
            raise ValidationError("Enter an amount above zero." if self.minimum == 1 else
                                  f"Enter at least {decimal_amount(self.minimum, self.currency)}.",
                                  code="min_value")
        return amount


class TaxRateField(forms.CharField):
    """A tax rate typed as a percentage with up to four decimals ("9.975"); cleans to int
    parts per million, at most ``scheduling.money.MAX_TAX_RATE_PPM`` (30 %)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal",
                                                           "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value)
        if text in self.empty_values:
            return None
        return parse_tax_rate(text)


def _limit(check, value):
    """Run a ``studiobook.limits`` check as a form validator (its sentence, capitalised)."""
    try:
        check(value)
    except limits.OutOfRange as error:
        raise ValidationError(error.message[:1].upper() + error.message[1:] + ".",
                              code=error.rule) from None


class LimitedDateField(forms.DateField):
    """A date inside ``studiobook.limits`` (1970-01-02 to 2099-12-30): a day outside it is a
    field error, never a date the pages cannot turn into instants."""

    def validate(self, value):
        super().validate(value)
        if value is not None:
            _limit(limits.local_date, value)


class WallClockTimeField(forms.TimeField):
    """A wall-clock time of whole minutes (``studiobook.limits.wall_clock_minute``)."""

    def validate(self, value):
        super().validate(value)
        if value is not None:
            _limit(limits.wall_clock_minute, value)


def validate_local_datetime(value) -> None:
    """A naive wall-clock date-time whose date is inside ``studiobook.limits``."""
    if value is not None:
        _limit(limits.local_date, value.date())
        _limit(limits.wall_clock_minute, value.time())


def validate_instant(value) -> None:
    """An aware instant inside ``studiobook.limits``."""
    if value is not None:
        _limit(limits.instant, value)
