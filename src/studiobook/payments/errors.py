"""Payment domain errors (stable codes; the API maps them to HTTP statuses)."""

from __future__ import annotations

from studiobook.studios.errors import Conflict, DomainError


class PaymentStateError(Conflict):
    """The payment is not in a state that allows this (double capture, capture after cancel,
    refund of an unpaid booking)."""

    code = "payment_state"


class GatewayFailure(DomainError):
    """The gateway refused or failed; the attempt is recorded on the payment and may be
    retried (HTTP 502)."""

    code = "gateway_failure"
