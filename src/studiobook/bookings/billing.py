"""The money side of booking operations, as the booking services see it.

``bookings`` must not import ``payments`` (payments depends on bookings), yet approving,
rejecting, canceling and rescheduling have money effects that must never be skipped. So the
booking services call this port after their transaction commits, and ``studiobook.payments``
registers the implementation in ``PaymentsConfig.ready()``. Without payments installed the
null implementation does nothing and reports nothing paid.
"""

from __future__ import annotations

from typing import Protocol


class Billing(Protocol):
    def paid_minor(self, booking) -> int:
        """Captured minus refunded, in minor units: what a cancellation refund is a share of."""

    def after_create(self, booking) -> None:
        """Open the booking's payment (deposit or full; the balance scheduled)."""

    def after_approve(self, booking, actor) -> None:
        """Capture authorizations, or charge a saved card (recording-studio-prd.md 7.8)."""

    def after_reject(self, booking, actor) -> None:
        """Cancel authorizations and refund captured money in full."""

    def after_cancel(self, booking, actor, refund_minor: int) -> None:
        """Refund ``refund_minor`` and cancel whatever is still uncaptured."""

    def after_reschedule(self, booking, actor, fee_minor: int) -> None:
        """Charge (or record as due) the reschedule fee; re-time the balance charge."""


class NullBilling:
    def paid_minor(self, booking) -> int:
        return 0

    def after_create(self, booking) -> None:
        pass

    def after_approve(self, booking, actor) -> None:
        pass

    def after_reject(self, booking, actor) -> None:
        pass

    def after_cancel(self, booking, actor, refund_minor: int) -> None:
        pass

    def after_reschedule(self, booking, actor, fee_minor: int) -> None:
        pass


_billing: Billing = NullBilling()


def register(implementation: Billing) -> None:
    global _billing
    _billing = implementation


def billing() -> Billing:
    return _billing
