"""Payment gateway adapters.

A gateway takes and returns plain values (ints in minor units, ISO currency codes, Stripe-style
ids and statuses, aware UTC datetimes); it never touches Django models or settings. Two are
provided:

* :class:`~studiobook.payments.gateways.offline.OfflineGateway`, the embedded default: pay at
  the studio or by invoice, no keys, no network;
* :class:`~studiobook.payments.gateways.stripe_gateway.StripeGateway`, card payments through
  Stripe's PaymentIntents API (imported lazily so that ``stripe`` is only loaded when used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studiobook.payments.gateways.base import (
    GatewayError,
    IntentResult,
    PaymentGateway,
    RefundResult,
    WebhookSignatureError,
    idempotency_key,
)
from studiobook.payments.gateways.offline import OfflineGateway

if TYPE_CHECKING:
    from studiobook.payments.gateways.stripe_gateway import StripeGateway

__all__ = [
    "GatewayError",
    "IntentResult",
    "OfflineGateway",
    "PaymentGateway",
    "RefundResult",
    "StripeGateway",
    "WebhookSignatureError",
    "idempotency_key",
]


def __getattr__(name: str) -> Any:
    if name == "StripeGateway":
        from studiobook.payments.gateways.stripe_gateway import StripeGateway

        return StripeGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
