"""The offline gateway: pay at the studio or by invoice. The embedded default.

It needs no keys and no network and keeps no state: every answer is computed from the call's
arguments. It speaks Stripe's vocabulary (https://docs.stripe.com/payments/paymentintents/lifecycle)
so the payments service treats both gateways alike:

* an intent it creates is ``requires_payment_method``: nothing is collected online, the artist
  pays at the studio and the payments service records that payment itself;
* ``capture`` reports ``succeeded`` (the money was taken at the desk), ``cancel`` reports
  ``canceled`` and ``refund`` reports a ``succeeded`` refund (handed back at the desk or
  credited on the invoice);
* ``charge_off_session`` cannot charge anyone, so it reports ``requires_payment_method``: the
  balance is due at the studio;
* it never receives webhooks.

Ids are deterministic, so the same call with the same idempotency key gives the same id, as a
replayed Stripe request would (https://docs.stripe.com/api/idempotent_requests). A
PaymentIntent id is self-describing, all lowercase hex after ``off_pi_``: 16 digits of a
SHA-256 digest of the idempotency key, one digit for the capture method (``0`` automatic,
``1`` manual), six for the currency's ASCII letters, then the amount in hex; so
``retrieve``, ``capture``, ``cancel`` and ``refund`` know the amount, currency and capture
method without storing anything. ``off_pi_8d969eed3c1a4f2e163616412c`` is 300 (``12c``) CAD
minor units with manual capture. Ids stay under 40 characters for any realistic amount. Other
ids are ``off_cus_``, ``off_seti_`` and ``off_re_`` followed by 24 digits of the digest.
Customer and metadata are not kept: only the creating call's result carries the ``customer``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from studiobook.payments.gateways.base import (
    GatewayError,
    IntentResult,
    RefundResult,
    WebhookSignatureError,
)

PAYMENT_INTENT_PREFIX = "off_pi_"
SETUP_INTENT_PREFIX = "off_seti_"
CUSTOMER_PREFIX = "off_cus_"
REFUND_PREFIX = "off_re_"

_CAPTURE_METHOD_CODES = {"automatic": "0", "manual": "1"}
_CAPTURE_METHODS = {code: method for method, code in _CAPTURE_METHOD_CODES.items()}
_CURRENCY = re.compile(r"[a-z]{3}")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_DIGEST_LENGTH = 24
_INTENT_DIGEST_LENGTH = 16


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:_DIGEST_LENGTH]


class OfflineGateway:
    """Pay at the studio or by invoice (see the module docstring for the model).

    Raises :class:`GatewayError` with ``code="resource_missing"`` for an intent id it did not
    make (Stripe's code for an unknown id: https://docs.stripe.com/error-codes#resource-missing)
    and ``code="amount_too_large"`` for a capture or refund above the intent's amount;
    ``ValueError`` for a negative amount or a currency that is not three ASCII letters;
    :class:`WebhookSignatureError` from :meth:`parse_webhook`, always.
    """

    name = "offline"

    def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str:
        """``off_cus_<digest of the key>``: there is no customer record to keep offline."""
        return CUSTOMER_PREFIX + _digest(idempotency_key)

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        capture_method: Literal["automatic", "manual"],
        customer: str | None,
        save_payment_method: bool,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """An intent in ``requires_payment_method`` for ``amount`` minor units, to be paid at
        the studio; ``client_secret`` is ``None`` (there is nothing for a browser to confirm)
        and ``save_payment_method`` has no effect (no payment method can be saved offline).
        ``metadata`` is not kept."""
        intent_id = _encode_intent_id(amount, currency, capture_method, idempotency_key)
        return _intent(intent_id, status="requires_payment_method", customer=customer)

    def create_setup_intent(
        self, *, customer: str, metadata: dict[str, str], idempotency_key: str
    ) -> IntentResult:
        """A SetupIntent ``off_seti_<digest>`` in ``requires_payment_method`` that can never be
        completed (no card is saved offline): zero amounts, ``currency == ""``, no client
        secret."""
        return IntentResult(
            id=SETUP_INTENT_PREFIX + _digest(idempotency_key),
            object="setup_intent",
            status="requires_payment_method",
            amount=0,
            amount_capturable=0,
            amount_received=0,
            currency="",
            capture_method=None,
            client_secret=None,
            customer=customer,
            payment_method=None,
            latest_charge=None,
            capture_before=None,
            next_action_url=None,
            last_error_code=None,
        )

    def retrieve_payment_intent(self, intent_id: str) -> IntentResult:
        """Always ``requires_payment_method`` with ``amount_received == 0``: the gateway never
        learns of payments taken at the studio; the payments service's own records are
        authoritative. Amount, currency and capture method come from the id."""
        return _intent(intent_id, status="requires_payment_method")

    def capture(
        self, *, intent_id: str, amount_to_capture: int | None, idempotency_key: str
    ) -> IntentResult:
        """``succeeded`` with ``amount_received`` = ``amount_to_capture`` (the whole amount when
        ``None``): the money was collected at the studio. Like Stripe, ``amount`` stays the
        original amount and ``amount_capturable`` drops to 0
        (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method#capture-funds)."""
        amount, _currency, _method = _decode_intent_id(intent_id)
        captured = amount if amount_to_capture is None else amount_to_capture
        if captured < 0:
            raise ValueError("amount_to_capture must not be negative")
        if captured > amount:
            raise GatewayError(
                f"amount_to_capture ({captured}) is greater than the intent's amount ({amount})",
                code="amount_too_large",
            )
        return _intent(intent_id, status="succeeded", amount_received=captured)

    def cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        """``canceled``, nothing received: nothing was held, so nothing is released."""
        return _intent(intent_id, status="canceled")

    def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """An automatic-capture intent left in ``requires_payment_method``, never an error: the
        balance is due at the studio (in Stripe's vocabulary, the intent awaits a payment
        method). ``payment_method`` is not used and is ``None`` in the result."""
        intent_id = _encode_intent_id(amount, currency, "automatic", idempotency_key)
        return _intent(intent_id, status="requires_payment_method", customer=customer)

    def refund(
        self, *, intent_id: str, amount: int, reason: str | None, idempotency_key: str
    ) -> RefundResult:
        """A ``succeeded`` refund ``off_re_<digest>`` of ``amount`` minor units (handed back at
        the studio or credited on the invoice). Raises ``amount_too_large`` above the intent's
        amount; ``reason`` is not kept."""
        intent_amount, _currency, _method = _decode_intent_id(intent_id)
        if amount < 0:
            raise ValueError("refund amount must not be negative")
        if amount > intent_amount:
            raise GatewayError(
                f"refund amount ({amount}) is greater than the intent's amount ({intent_amount})",
                code="amount_too_large",
            )
        return RefundResult(id=REFUND_PREFIX + _digest(idempotency_key), status="succeeded",
                            amount=amount, payment_intent=intent_id)

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        """Always raises :class:`WebhookSignatureError`: the offline gateway receives no
        webhooks, so any request to a webhook endpoint for it is refused."""
        raise WebhookSignatureError("offline gateway receives no webhooks")


def _encode_intent_id(amount: int, currency: str, capture_method: str, key: str) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"amount must be a non-negative integer of minor units, not {amount!r}")
    currency = currency.lower()
    if not _CURRENCY.fullmatch(currency):
        raise ValueError(f"currency must be a three-letter ISO 4217 code, not {currency!r}")
    if capture_method not in _CAPTURE_METHOD_CODES:
        raise ValueError(f"capture_method must be 'automatic' or 'manual', not {capture_method!r}")
    return (PAYMENT_INTENT_PREFIX + _digest(key)[:_INTENT_DIGEST_LENGTH]
            + _CAPTURE_METHOD_CODES[capture_method] + currency.encode("ascii").hex()
            + format(amount, "x"))


def _decode_intent_id(intent_id: str) -> tuple[int, str, str]:
    """(amount, currency, capture_method) from an ``off_pi_`` id; ``resource_missing``
    otherwise."""
    missing = GatewayError(f"No such payment_intent: '{intent_id}'", code="resource_missing",
                           http_status=404)
    body = intent_id.removeprefix(PAYMENT_INTENT_PREFIX)
    method_at = _INTENT_DIGEST_LENGTH
    currency_at = method_at + 1
    amount_at = currency_at + 6
    if (body == intent_id or len(body) <= amount_at or not _LOWER_HEX.fullmatch(body)
            or body[method_at] not in _CAPTURE_METHODS):
        raise missing
    currency = bytes.fromhex(body[currency_at:amount_at]).decode("latin-1")
    amount = int(body[amount_at:], 16)
    if not _CURRENCY.fullmatch(currency) or format(amount, "x") != body[amount_at:]:
        raise missing
    return amount, currency, _CAPTURE_METHODS[body[method_at]]


def _intent(
    intent_id: str, *, status: str, amount_received: int = 0, customer: str | None = None
) -> IntentResult:
    amount, currency, capture_method = _decode_intent_id(intent_id)
    return IntentResult(
        id=intent_id,
        object="payment_intent",
        status=status,
        amount=amount,
        amount_capturable=0,
        amount_received=amount_received,
        currency=currency,
        capture_method=capture_method,
        client_secret=None,
        customer=customer,
        payment_method=None,
        latest_charge=None,
        capture_before=None,
        next_action_url=None,
        last_error_code=None,
    )
