"""Price quotes for a prospective booking (recording-studio-prd.md sections 7.5 and 7.6)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from studiobook import scheduling as core
from studiobook.studios.models import Service, Studio


@dataclass(frozen=True)
class Quote:
    """Amounts in minor units of ``currency``; ``taxes_minor`` is 0 until taxes are set up."""

    currency: str
    subtotal_minor: int
    taxes_minor: int
    total_minor: int
    deposit_minor: int
    balance_minor: int
    policy_summary: str


def percent_of(amount_minor: int, percent: int) -> int:
    """``percent`` % of ``amount_minor``, rounded half-to-even to a whole minor unit."""
    return int((Decimal(amount_minor) * percent / 100).quantize(Decimal(1), ROUND_HALF_EVEN))


def quote(*, studio: Studio, service: Service, duration_minutes: int) -> Quote:
    """The price of ``service`` for ``duration_minutes``, with its deposit and balance."""
    subtotal = core.price_for(
        core.PriceRule(unit=service.price_unit, amount_minor=service.base_price_minor),
        duration_minutes)
    deposit = percent_of(subtotal, service.deposit_percent)
    approval = service.requires_approval or studio.requires_approval
    summary = (f"{'Needs studio approval before it is confirmed. ' if approval else ''}"
               f"{f'Deposit {service.deposit_percent}% now, balance later.' if deposit else 'Paid in full.'}")
    return Quote(studio.currency, subtotal, 0, subtotal, deposit, subtotal - deposit,
                 summary.strip())
