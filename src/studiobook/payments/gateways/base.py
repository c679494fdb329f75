"""The payment gateway interface, in Stripe's vocabulary.

Every gateway speaks the PaymentIntents model (https://docs.stripe.com/payments/paymentintents/lifecycle):
an *intent* to collect an amount goes through the statuses ``requires_payment_method``,
``requires_confirmation``, ``requires_action``, ``processing``, ``requires_capture``,
``canceled`` and ``succeeded``. Amounts are integers in the currency's minor unit (cents for
EUR/USD/CAD, yen for JPY: https://docs.stripe.com/currencies#zero-decimal); currencies are
lowercase ISO 4217 codes; datetimes are aware and in UTC.

Gateways are adapters: they take and return plain values and never import Django models or
settings (configuration arrives through their constructors). The payments service decides what
to do with a result; a gateway only reports what the provider said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

IntentStatus = Literal[
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
]
"""Stripe's PaymentIntent / SetupIntent statuses
(https://docs.stripe.com/payments/paymentintents/lifecycle,
https://docs.stripe.com/payments/setupintents/lifecycle)."""

IDEMPOTENCY_KEY_PREFIX = "studiobook"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
"""Stripe accepts idempotency keys of up to 255 characters
(https://docs.stripe.com/api/idempotent_requests)."""


@dataclass(frozen=True)
class IntentResult:
    """A PaymentIntent or SetupIntent as the gateway last saw it.

    Field names and values are Stripe's (https://docs.stripe.com/api/payment_intents/object):

    * ``id``: ``pi_...`` / ``seti_...`` (Stripe) or ``off_pi_...`` / ``off_seti_...`` (offline).
    * ``object``: ``"payment_intent"`` or ``"setup_intent"``.
    * ``status``: one of :data:`IntentStatus`.
    * ``amount``, ``amount_capturable``, ``amount_received``: minor units; a SetupIntent moves
      no money, so all three are 0 for it.
    * ``currency``: lowercase ISO 4217 code; ``""`` for a SetupIntent.
    * ``capture_method``: ``"automatic"``, ``"automatic_async"`` or ``"manual"``; ``None`` for a
      SetupIntent.
    * ``client_secret``: handed to the browser (Stripe.js) to confirm the intent; ``None`` when
      there is nothing for a browser to confirm (offline gateway).
    * ``customer``, ``payment_method``, ``latest_charge``: ids (``cus_...``, ``pm_...``,
      ``ch_...``) or ``None``.
    * ``capture_before``: aware UTC datetime after which an uncaptured authorisation is released
      (read from the latest charge's ``payment_method_details.card.capture_before``;
      https://docs.stripe.com/payments/place-a-hold-on-a-payment-method#auth-and-capture);
      ``None`` unless the intent uses manual capture and its latest charge is known.
    * ``next_action_url``: where to send the customer to complete ``requires_action`` (for
      ``redirect_to_url`` and the hosted-page next actions), else ``None``; ``use_stripe_sdk``
      actions are completed by Stripe.js with the client secret instead.
    * ``last_error_code``: ``last_payment_error.code`` (``last_setup_error.code`` for a
      SetupIntent), e.g. ``"card_declined"`` or ``"authentication_required"``
      (https://docs.stripe.com/error-codes).
    """

    id: str
    object: Literal["payment_intent", "setup_intent"]
    status: str
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    capture_method: str | None
    client_secret: str | None
    customer: str | None
    payment_method: str | None
    latest_charge: str | None
    capture_before: datetime | None
    next_action_url: str | None
    last_error_code: str | None


@dataclass(frozen=True)
class RefundResult:
    """A Refund (https://docs.stripe.com/api/refunds/object): ``id`` (``re_...`` or
    ``off_re_...``), ``status`` (``pending``, ``requires_action``, ``succeeded``, ``failed`` or
    ``canceled``), ``amount`` in minor units and the refunded ``payment_intent`` id."""

    id: str
    status: str
    amount: int
    payment_intent: str


class GatewayError(Exception):
    """A gateway operation failed.

    Attributes:

    * ``code``: Stripe's error code when it gave one (https://docs.stripe.com/error-codes, e.g.
      ``card_declined``, ``authentication_required``, ``resource_missing``), else the error's
      kind: ``"timeout"``, ``"api_connection_error"``, ``"api_error"``, ``"rate_limit"``,
      ``"authentication_error"``, ``"permission_error"``, ``"idempotency_error"``,
      ``"invalid_request_error"``.
    * ``message``: human-readable; for card errors Stripe's message is fit to show the customer
      (https://docs.stripe.com/api/errors).
    * ``is_retryable``: the failure is transient (network, timeout, rate limit, Stripe-side 5xx
      or 409), so the same operation with the *same* idempotency key may be tried again later.
      Stripe replays the saved result of a key that reached it
      (https://docs.stripe.com/api/idempotent_requests), so after a 5xx the outcome is
      indeterminate: reconcile from the intent (retrieve or webhook) before assuming failure
      (https://docs.stripe.com/error-low-level#server-errors).
    * ``decline_code``: the issuer's reason for a card decline (e.g. ``insufficient_funds``;
      https://docs.stripe.com/declines/codes), else ``None``.
    * ``intent``: the PaymentIntent the error concerns when the provider returned it, e.g. the
      intent left in ``requires_payment_method`` by an off-session ``authentication_required``
      decline, whose id the customer must come back to confirm on-session.
    * ``http_status``, ``request_id``: for logs and support tickets (``req_...``), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "api_error",
        is_retryable: bool = False,
        decline_code: str | None = None,
        intent: IntentResult | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.is_retryable = is_retryable
        self.decline_code = decline_code
        self.intent = intent
        self.http_status = http_status
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
                f"is_retryable={self.is_retryable!r}, decline_code={self.decline_code!r})")


class WebhookSignatureError(GatewayError):
    """A webhook could not be authenticated: missing or malformed ``Stripe-Signature`` header,
    signature not matching the endpoint secret, timestamp outside the tolerance, or a body that
    is not a Stripe event (https://docs.stripe.com/webhooks#verify-events). Never retryable: the
    view should answer 400 and drop the request."""

    def __init__(self, message: str, *, code: str = "invalid_signature") -> None:
        super().__init__(message, code=code, is_retryable=False)


@runtime_checkable
class PaymentGateway(Protocol):
    """What the payments service needs from a payment provider.

    Every mutation takes an ``idempotency_key`` (see :func:`idempotency_key`) derived from our
    own ids, so that a retried request (after a timeout, a crash or a double click) cannot move
    money twice (https://docs.stripe.com/api/idempotent_requests). Amounts are minor units;
    ``metadata`` values are strings (https://docs.stripe.com/api/metadata). Every method raises
    :class:`GatewayError` on failure.
    """

    name: str
    """``"stripe"`` or ``"offline"``."""

    def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str:
        """Create a customer record to which payment methods are saved; returns its id
        (``cus_...``; https://docs.stripe.com/api/customers/create)."""
        ...

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
        """Create an unconfirmed intent for ``amount`` (minor units) that the customer confirms
        in the browser with its ``client_secret``. ``capture_method="manual"`` only authorises
        (a hold, captured later: https://docs.stripe.com/payments/place-a-hold-on-a-payment-method);
        ``save_payment_method`` keeps the payment method on ``customer`` for later off-session
        charges (``setup_future_usage=off_session``: https://docs.stripe.com/payments/save-during-payment)."""
        ...

    def create_setup_intent(
        self, *, customer: str, metadata: dict[str, str], idempotency_key: str
    ) -> IntentResult:
        """Create a SetupIntent that saves a payment method on ``customer`` for off-session use
        without charging it (https://docs.stripe.com/payments/save-and-reuse)."""
        ...

    def retrieve_payment_intent(self, intent_id: str) -> IntentResult:
        """The intent's current state (read-only, so no idempotency key)."""
        ...

    def capture(
        self, *, intent_id: str, amount_to_capture: int | None, idempotency_key: str
    ) -> IntentResult:
        """Capture an authorised (``requires_capture``) intent, in full when
        ``amount_to_capture`` is ``None``, else that many minor units (at most the authorised
        amount; the rest is released)
        (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method#capture-funds)."""
        ...

    def cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        """Cancel an intent that has not succeeded, releasing any hold
        (https://docs.stripe.com/api/payment_intents/cancel)."""
        ...

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
        """Charge a saved payment method while the customer is away (``confirm=true``,
        ``off_session=true``: https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method).
        A decline raises :class:`GatewayError`; when the bank wants the customer to authenticate,
        ``code == "authentication_required"`` and ``intent`` is the PaymentIntent (status
        ``requires_payment_method``) to bring the customer back to."""
        ...

    def refund(
        self, *, intent_id: str, amount: int, reason: str | None, idempotency_key: str
    ) -> RefundResult:
        """Refund ``amount`` minor units of a succeeded intent; ``reason`` is ``None`` or one of
        Stripe's ``duplicate``, ``fraudulent``, ``requested_by_customer``
        (https://docs.stripe.com/api/refunds/create)."""
        ...

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        """Verify a webhook's signature and return the event as a plain dict (``id`` ``evt_...``,
        ``type``, ``created``, ``data.object``; https://docs.stripe.com/api/events/object).
        Raises :class:`WebhookSignatureError` when it cannot be authenticated."""
        ...


def idempotency_key(*parts: object) -> str:
    """A stable idempotency key derived from our own ids, e.g.
    ``idempotency_key("booking", "SB-X", "capture", 12) == "studiobook:booking:SB-X:capture:12"``.

    The same parts always give the same key, so re-running an operation (after a timeout or a
    crash) sends the same key and the provider replays the first result instead of acting twice
    (https://docs.stripe.com/api/idempotent_requests). Each part is ``str()``-ed.

    Raises ``ValueError`` when no part is given, a part is ``None`` or empty or contains ``:``
    (which would make two different part lists collide), or the key exceeds Stripe's
    255-character limit.
    """
    if not parts:
        raise ValueError("idempotency_key needs at least one part")
    texts = []
    for part in parts:
        if part is None:
            raise ValueError("idempotency_key parts must not be None")
        text = str(part)
        if not text:
            raise ValueError("idempotency_key parts must not be empty")
        if ":" in text:
            raise ValueError(f"idempotency_key part {text!r} contains ':'")
        texts.append(text)
    key = ":".join([IDEMPOTENCY_KEY_PREFIX, *texts])
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValueError(f"idempotency key longer than {IDEMPOTENCY_KEY_MAX_LENGTH} characters")
    return key
