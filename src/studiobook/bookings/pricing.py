"""Quotes from rows: the service, its duration, add-ons, the studio's fees and taxes, priced
by the pure core (``scheduling.money.build_quote``; half-even on each tax line)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from studiobook import scheduling as core
from studiobook.studios.errors import InvalidInput, PricingMisconfigured
from studiobook.studios.models import Fee, Service, Studio, TaxRate


def duration_label(minutes: int, *, words: bool = False) -> str:
    """A length of time in minutes as people read it; the one wording of durations.

    Short (the default), for price lines, tables and reports: 150 -> "2 h 30 min",
    120 -> "2 h", 45 -> "45 min", 0 -> "0 min". ``words=True`` spells the units out, for
    the public pages' running text: 150 -> "2 hours 30 minutes", 60 -> "1 hour",
    45 -> "45 minutes". Hours carry a thousands separator ("1,200 h")."""
    hours, rest = divmod(minutes, 60)
    if words:
        parts = [f"{hours:,} hour{'s' if hours != 1 else ''}"] if hours else []
        if rest or not hours:
            parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
        return " ".join(parts)
    if not hours:
        return f"{rest} min"
    return f"{hours:,} h" + (f" {rest} min" if rest else "")


def quote_booking(*, studio: Studio, service: Service, duration_minutes: int,
                  add_ons: Sequence[tuple[Service, int]] = ()) -> core.Quote:
    """The quote for ``service`` over ``duration_minutes`` plus ``add_ons`` (service,
    quantity; each add-on priced per unit, or per hour of the session when it is hourly).
    Raises InvalidInput (field ``add_ons``) for an add-on of another studio or not an add-on."""
    lines = [core.PriceLine(
        description=f"{service.name}, {duration_label(duration_minutes)}",
        unit_price_minor=core.price_for(
            core.PriceRule(unit=service.price_unit, amount_minor=service.base_price_minor),
            duration_minutes),
        quantity=1)]
    for add_on, quantity in add_ons:
        if add_on.studio_id != studio.id or not add_on.is_add_on or not add_on.is_active:
            raise InvalidInput(f"{add_on.name} is not an add-on of this studio",
                               field="add_ons", rule="add_on")
        unit = (core.price_for(core.PriceRule("hour", add_on.base_price_minor),
                               duration_minutes)
                if add_on.price_unit == Service.PriceUnit.HOUR else add_on.base_price_minor)
        lines.append(core.PriceLine(description=add_on.name, unit_price_minor=unit,
                                    quantity=quantity))
    return core.build_quote(currency=studio.currency, lines=lines, fees=studio_fees(studio),
                            taxes=studio_taxes(studio), deposit_percent=service.deposit_percent)


def studio_fees(studio: Studio) -> list[core.Fee]:
    """The studio's active fees as core fees. Raises PricingMisconfigured naming a stored fee
    the core refuses (a percentage above 100 %, saved before the limits were enforced)."""
    fees = []
    for row in Fee.objects.for_studio(studio).filter(is_active=True):
        try:
            fees.append(core.Fee(name=row.name, kind=row.kind, amount=row.amount,
                                 taxable=row.is_taxable))
        except core.InvalidMoney as error:
            raise PricingMisconfigured(
                f"the fee “{row.name}” of {studio.name} cannot be priced "
                f"({_fee_reason(row, studio.currency, error)}); a studio admin must correct "
                "or retire it under Fees",
                field="fees", extra={"kind": "fee", "id": row.pk, "name": row.name},
            ) from error
    return fees


def studio_taxes(studio: Studio) -> list[core.TaxRate]:
    """The studio's active taxes as core tax rates. Raises PricingMisconfigured naming a
    stored tax the core refuses (above ``core.MAX_TAX_RATE_PPM``, 30 %)."""
    taxes = []
    for row in TaxRate.objects.for_studio(studio).filter(is_active=True):
        try:
            taxes.append(core.TaxRate(name=row.name, rate_ppm=row.rate_ppm))
        except core.InvalidMoney as error:
            raise PricingMisconfigured(
                f"the tax “{row.name}” of {studio.name} cannot be priced "
                f"({_tax_reason(row, error)}); a studio admin must correct or retire it "
                "under Taxes",
                field="taxes", extra={"kind": "tax", "id": row.pk, "name": row.name},
            ) from error
    return taxes


def _fee_reason(row: Fee, currency: str, error: core.InvalidMoney) -> str:
    if row.kind == Fee.Kind.PERCENT and row.amount > core.MAX_PERCENT_FEE_BASIS_POINTS:
        return (f"{core.format_basis_points(row.amount)} % is more than the "
                f"{core.format_basis_points(core.MAX_PERCENT_FEE_BASIS_POINTS)} % a percentage "
                "fee may be")
    if row.kind == Fee.Kind.FIXED and row.amount > core.MAX_FIXED_FEE_MINOR:
        return (f"{core.format_money(row.amount, currency)} is more than the "
                f"{core.format_money(core.MAX_FIXED_FEE_MINOR, currency)} a fixed "
                "fee may be")
    return _reason(error)


def _tax_reason(row: TaxRate, error: core.InvalidMoney) -> str:
    if row.rate_ppm > core.MAX_TAX_RATE_PPM:
        return (f"{core.format_percent_ppm(row.rate_ppm)} % is more than the "
                f"{core.format_percent_ppm(core.MAX_TAX_RATE_PPM)} % a tax may be")
    return _reason(error)


def _reason(error: core.InvalidMoney) -> str:
    """The core's ``"amount: must be an int 0..10000 (basis points), got 15000"`` without the
    field prefix, which names the core's argument rather than the studio's row."""
    return str(error).split(": ", 1)[-1]


def quote_snapshot(quote: core.Quote) -> dict:
    """The quote as JSON, stored on the booking so later price changes never alter it."""
    return asdict(quote)
