"""The ledger: every money movement as legs that sum to zero (ARCHITECTURE.md principle 5).

A capture of X splits X over the booking's revenue and each tax in proportion to the
booking's quote (largest remainder, so the parts sum exactly), then the platform takes its
fee from the studio's revenue part. A refund reverses the same way. Accounts: ``artist``
(negative: paid by the artist), ``studio``, ``tax:<name>``, ``platform``, ``payout``."""

from __future__ import annotations

import uuid

from studiobook import scheduling as core
from studiobook.payments.models import LedgerEntry, Payment, Refund


def _weights(booking) -> tuple[list[str], list[int]]:
    taxes = (booking.price_snapshot or {}).get("taxes", [])
    accounts = ["studio", *(f"tax:{t['name']}" for t in taxes)]
    weights = [booking.subtotal_minor, *(t["amount_minor"] for t in taxes)]
    return accounts, weights


def _post(*, payment: Payment, refund: Refund | None, kind: str, legs: list[tuple[str, int]]
          ) -> None:
    assert sum(amount for _, amount in legs) == 0, legs
    movement = f"{kind}:{uuid.uuid4().hex[:12]}"
    booking = payment.booking
    LedgerEntry.objects.bulk_create([
        LedgerEntry(studio_id=booking.studio_id, booking=booking, payment=payment,
                    refund=refund, movement=movement, kind=kind, account=account,
                    amount_minor=amount, currency=payment.currency)
        for account, amount in legs if amount
    ])


def record_capture(payment: Payment, amount_minor: int) -> None:
    """Legs for ``amount_minor`` taken from the artist, and the platform fee on it."""
    booking = payment.booking
    accounts, weights = _weights(booking)
    parts = core.split_proportionally(amount_minor, weights) if sum(weights) else [amount_minor]
    _post(payment=payment, refund=None, kind=LedgerEntry.Kind.CAPTURE,
          legs=[("artist", -amount_minor), *zip(accounts, parts, strict=False)])
    fee = core.basis_points_of(parts[0], booking.studio.platform_fee_basis_points)
    if fee:
        _post(payment=payment, refund=None, kind=LedgerEntry.Kind.FEE,
              legs=[("studio", -fee), ("platform", fee)])


def record_refund(refund: Refund) -> None:
    """Legs for a refund: the reverse of a capture of the same amount, platform fee included."""
    payment = refund.payment
    booking = payment.booking
    accounts, weights = _weights(booking)
    parts = (core.split_proportionally(refund.amount_minor, weights) if sum(weights)
             else [refund.amount_minor])
    _post(payment=payment, refund=refund, kind=LedgerEntry.Kind.REFUND,
          legs=[("artist", refund.amount_minor), *((a, -p) for a, p in zip(accounts, parts,
                                                                              strict=False))])
    fee = core.basis_points_of(parts[0], booking.studio.platform_fee_basis_points)
    if fee:
        _post(payment=payment, refund=refund, kind=LedgerEntry.Kind.FEE,
              legs=[("studio", fee), ("platform", -fee)])
