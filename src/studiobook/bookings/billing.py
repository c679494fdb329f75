"""The money side of booking operations, as the booking services see it.

``bookings`` must not import ``payments`` (payments depends on bookings), yet approving,
rejecting, canceling and rescheduling have money effects that must never be skipped. So the
booking services call this port after their transaction commits, and ``studiobook.payments``
registers the implementation in ``PaymentsConfig.ready()``. Without payments installed the
null implementation does nothing and reports nothing paid.

Two halves per operation (ARCHITECTURE.md principle 6, issue 9 section 3):

- ``record_*`` runs INSIDE the booking's transaction and only writes rows: the payment rows a
  new booking needs in their initial state, the refunds a cancellation owes (reserved), the
  reschedule fee. A crash can then never leave a booking without its money records: they
  commit with it or not at all. No gateway call happens there.
- ``after_*`` runs after commit and carries those rows out at the gateway (open the intent,
  capture, refund, charge), each call with an idempotency key derived from the row. When the
  process dies before or during it, the periodic sweep (``payments.recovery``) finds the
  rows again and finishes the work with the same keys, so nothing is charged twice.
"""

from __future__ import annotations

from typing import Protocol


class Billing(Protocol):
    def paid_minor(self, booking) -> int:
        """Captured minus refunded, in minor units: what a cancellation refund is a share of."""

    def due_now_secured(self, booking) -> bool:
        """Whether the booking's due-now payment (the deposit, or the full amount when there
        is no deposit) is authorized or paid in full: what confirms a booking that waits for
        it (``Booking.confirm_on_payment``). False when it has none."""

    def record_create(self, booking) -> None:
        """Inside the booking's transaction: write its payment rows (the due-now payment,
        deposit or full, and the scheduled balance) in their initial state. No gateway call."""

    def record_cancel(self, booking, actor, refund_minor: int, reason: str) -> None:
        """Inside the cancel or reject transaction: reserve ``refund_minor`` (minor units, at
        most what was paid) as pending refund rows. No gateway call."""

    def record_reschedule(self, booking, fee_minor: int) -> None:
        """Inside the reschedule transaction: re-time the balance and write the fee's
        payment row (``fee_minor``, minor units; none when 0). No gateway call."""

    def after_create(self, booking) -> None:
        """Open the booking's due-now payment at the gateway (rows from ``record_create``)."""

    def after_approve(self, booking, actor) -> None:
        """Capture authorizations, or charge a saved card (recording-studio-prd.md 7.8)."""

    def after_reject(self, booking, actor) -> None:
        """Cancel authorizations and send the refunds ``record_cancel`` reserved."""

    def after_cancel(self, booking, actor, refund_minor: int) -> None:
        """Send the refunds ``record_cancel`` reserved and cancel what is still uncaptured."""

    def after_reschedule(self, booking, actor, fee_minor: int) -> None:
        """Charge (or record as due) the fee row ``record_reschedule`` wrote."""


class NullBilling:
    def paid_minor(self, booking) -> int:
        return 0

    def due_now_secured(self, booking) -> bool:
        return False

    def record_create(self, booking) -> None:
        pass

    def record_cancel(self, booking, actor, refund_minor: int, reason: str) -> None:
        pass

    def record_reschedule(self, booking, fee_minor: int) -> None:
        pass

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
