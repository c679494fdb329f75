"""Stripe adapter: the PaymentGateway interface over the official ``stripe`` SDK (16.x).

One :class:`stripe.StripeClient` per gateway, never the module-global ``stripe.api_key``
(https://docs.stripe.com/sdks/server-side?lang=python), so two gateways with different keys can
live in one process and tests never touch global state. The SDK
pins the API version it was generated for (``stripe._api_version._ApiVersion.CURRENT``) and
sends it as ``Stripe-Version``, so the object shapes read here are that version's.

Rules followed, with their sources:

* Every mutation carries the caller's idempotency key as the ``Idempotency-Key`` header
  (https://docs.stripe.com/api/idempotent_requests). The SDK's own network retries
  (``max_network_retries``) resend the same key, so they are safe.
* A hold is a PaymentIntent with ``capture_method=manual``, captured later in full or in part
  with ``amount_to_capture``; an uncaptured authorisation is released at the latest charge's
  ``payment_method_details.card.capture_before``
  (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method).
* Saving the payment method during a payment is ``setup_future_usage=off_session`` with a
  customer; charging it later is ``off_session=true, confirm=true``, and a failed attempt is a
  402 whose error carries the PaymentIntent, left in ``requires_payment_method``
  (https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method).
* Every PaymentIntent request expands ``latest_charge`` so that ``capture_before`` is read from
  the same response (https://docs.stripe.com/expand).
* Errors: https://docs.stripe.com/api/errors and https://docs.stripe.com/error-handling.
* Webhooks are verified with the SDK's ``construct_event`` against the endpoint secret with
  Stripe's default tolerance of 300 seconds (https://docs.stripe.com/webhooks#verify-events).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pydantic
import stripe
from pydantic import ConfigDict, Field, StrictInt, StrictStr

from studiobook.payments.gateways.base import (
    GatewayError,
    IntentResult,
    RefundResult,
    WebhookSignatureError,
)

WEBHOOK_TOLERANCE_SECONDS: int = stripe.Webhook.DEFAULT_TOLERANCE
"""300: a signed webhook whose ``t=`` timestamp is older than this is refused as a possible
replay (https://docs.stripe.com/webhooks#replay-attacks). Stripe's default; not configurable
here on purpose."""

_EXPAND_LATEST_CHARGE = ("latest_charge",)

# next_action.<type> keys that hold a URL the customer can be sent to.
_NEXT_ACTION_URL_KEYS = ("url", "hosted_verification_url", "hosted_instructions_url",
                         "hosted_voucher_url")


class StripeGateway:
    """Card payments through Stripe's PaymentIntents API.

    ``api_key`` is a secret (``sk_...``) or restricted (``rk_...``) key; ``webhook_secret`` is
    the endpoint's signing secret (``whsec_...``). ``http_client`` is any
    :class:`stripe.HTTPClient` (tests pass one serving recorded responses); by default a
    ``stripe.RequestsClient`` with a ``timeout_seconds`` timeout, which a custom client
    replaces (set the timeout on it instead). ``max_network_retries`` is the SDK's automatic
    retry count for connection errors, 409 and 5xx responses, with backoff and the same
    idempotency key (https://docs.stripe.com/error-low-level#idempotency).

    Every method raises :class:`GatewayError` (see :func:`translate_error` for the mapping);
    ``parse_webhook`` raises :class:`WebhookSignatureError`.
    """

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        http_client: stripe.HTTPClient | None = None,
        max_network_retries: int = 2,
        timeout_seconds: float = 20,
    ) -> None:
        if not api_key:
            raise ValueError("StripeGateway needs an API key")
        if http_client is None:
            http_client = stripe.RequestsClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key, http_client=http_client, max_network_retries=max_network_retries
        )
        self._webhook_secret = webhook_secret

    # -- customers -------------------------------------------------------------------------

    def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str:
        """``POST /v1/customers`` with ``email`` and ``name``; returns the ``cus_...`` id
        (https://docs.stripe.com/api/customers/create)."""
        with _translated():
            customer = self._client.v1.customers.create(
                params={"email": email, "name": name},
                options={"idempotency_key": idempotency_key},
            )
        return str(customer.id)

    # -- payment intents -------------------------------------------------------------------

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
        """``POST /v1/payment_intents``, unconfirmed (the browser confirms it with the returned
        ``client_secret``; https://docs.stripe.com/api/payment_intents/create).

        Sends ``amount`` (minor units), ``currency`` (lowercased), ``capture_method``
        (``manual`` = a hold: https://docs.stripe.com/payments/place-a-hold-on-a-payment-method),
        ``customer`` when given, ``setup_future_usage=off_session`` when
        ``save_payment_method`` (https://docs.stripe.com/payments/save-during-payment) and
        ``metadata``. Payment methods are Stripe's automatic ones (the API default).

        Raises ``ValueError`` when ``save_payment_method`` is set without a ``customer``: the
        saved method must be attached to a customer to be charged off-session later.
        """
        if save_payment_method and not customer:
            raise ValueError("save_payment_method needs a customer to attach the method to")
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "capture_method": capture_method,
            "metadata": dict(metadata),
            "expand": list(_EXPAND_LATEST_CHARGE),
        }
        if customer:
            params["customer"] = customer
        if save_payment_method:
            params["setup_future_usage"] = "off_session"
        with _translated():
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return payment_intent_result(intent.to_dict())

    def retrieve_payment_intent(self, intent_id: str) -> IntentResult:
        """``GET /v1/payment_intents/{id}?expand[0]=latest_charge``
        (https://docs.stripe.com/api/payment_intents/retrieve). After the customer confirmed a
        manual-capture intent this gives ``requires_capture`` and ``capture_before``."""
        with _translated():
            intent = self._client.v1.payment_intents.retrieve(
                intent_id, params={"expand": list(_EXPAND_LATEST_CHARGE)}
            )
        return payment_intent_result(intent.to_dict())

    def capture(
        self, *, intent_id: str, amount_to_capture: int | None, idempotency_key: str
    ) -> IntentResult:
        """``POST /v1/payment_intents/{id}/capture``, with ``amount_to_capture`` (minor units)
        for a partial capture; the uncaptured rest is released
        (https://docs.stripe.com/api/payment_intents/capture,
        https://docs.stripe.com/payments/place-a-hold-on-a-payment-method#capture-funds)."""
        params: dict[str, Any] = {"expand": list(_EXPAND_LATEST_CHARGE)}
        if amount_to_capture is not None:
            params["amount_to_capture"] = amount_to_capture
        with _translated():
            intent = self._client.v1.payment_intents.capture(
                intent_id,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return payment_intent_result(intent.to_dict())

    def cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        """``POST /v1/payment_intents/{id}/cancel``: releases a hold or abandons an unpaid
        intent; Stripe refuses (``payment_intent_unexpected_state``) once it has succeeded
        (https://docs.stripe.com/api/payment_intents/cancel)."""
        with _translated():
            intent = self._client.v1.payment_intents.cancel(
                intent_id,
                params={"expand": list(_EXPAND_LATEST_CHARGE)},
                options={"idempotency_key": idempotency_key},
            )
        return payment_intent_result(intent.to_dict())

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
        """Charge a saved payment method with the customer away: ``POST /v1/payment_intents``
        with ``customer``, ``payment_method``, ``off_session=true`` and ``confirm=true``
        (https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method).

        Also sends ``automatic_payment_methods[enabled]=true`` and
        ``automatic_payment_methods[allow_redirects]=never``: a server-side confirmation with
        automatic payment methods otherwise requires a ``return_url``, and an absent customer
        cannot follow a redirect anyway
        (https://docs.stripe.com/api/payment_intents/create#create_payment_intent-automatic_payment_methods-allow_redirects).

        A decline raises :class:`GatewayError` with Stripe's ``code`` and ``decline_code``;
        ``authentication_required`` comes with ``intent`` set to the PaymentIntent (status
        ``requires_payment_method``) the customer must return to confirm on-session.
        """
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": dict(metadata),
            "expand": list(_EXPAND_LATEST_CHARGE),
        }
        with _translated():
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return payment_intent_result(intent.to_dict())

    # -- setup intents, refunds ----------------------------------------------------------------

    def create_setup_intent(
        self, *, customer: str, metadata: dict[str, str], idempotency_key: str
    ) -> IntentResult:
        """``POST /v1/setup_intents`` with ``customer``, ``usage=off_session`` and ``metadata``;
        the browser confirms it with the ``client_secret``
        (https://docs.stripe.com/api/setup_intents/create,
        https://docs.stripe.com/payments/save-and-reuse). The result has ``object ==
        "setup_intent"``, zero amounts, ``currency == ""`` and ``capture_method is None``."""
        with _translated():
            intent = self._client.v1.setup_intents.create(
                params={"customer": customer, "usage": "off_session", "metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key},
            )
        return setup_intent_result(intent.to_dict())

    def refund(
        self, *, intent_id: str, amount: int, reason: str | None, idempotency_key: str
    ) -> RefundResult:
        """``POST /v1/refunds`` with ``payment_intent``, ``amount`` (minor units, always sent so
        a full refund is explicit) and ``reason`` when given (``duplicate``, ``fraudulent`` or
        ``requested_by_customer``; https://docs.stripe.com/api/refunds/create). The refund may
        be ``pending`` for some payment methods; its final status arrives by webhook
        (``refund.updated``)."""
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount}
        if reason is not None:
            params["reason"] = reason
        with _translated():
            refund = self._client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        data = refund.to_dict()
        return RefundResult(
            id=str(data["id"]),
            status=str(data["status"]),
            amount=int(data["amount"]),
            payment_intent=_id(data.get("payment_intent")) or intent_id,
        )

    # -- webhooks ------------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        """Verify a webhook with the SDK's ``construct_event`` and return the event as a plain
        dict (``{"id": "evt_...", "object": "event", "type": ..., "data": {"object": {...}}}``).

        ``payload`` must be the raw request body, byte for byte; ``signature_header`` is the
        ``Stripe-Signature`` header (``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload">``).
        Raises :class:`WebhookSignatureError` when the header is missing or malformed, no ``v1``
        signature matches the endpoint secret, the timestamp is more than
        :data:`WEBHOOK_TOLERANCE_SECONDS` (300) old, or the body is not a JSON Stripe event
        (https://docs.stripe.com/webhooks#verify-events).
        """
        try:
            event = self._client.construct_event(
                payload, signature_header, self._webhook_secret,
                tolerance=WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as err:
            raise WebhookSignatureError(err.user_message or "invalid webhook signature") from err
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            # not UTF-8, not JSON, not an object, or not a snapshot (v1) event: the signature
            # matched (it is checked first), so this is a malformed body, not a forgery.
            raise WebhookSignatureError(
                "webhook body is not a Stripe event", code="invalid_payload"
            ) from err
        now = time.time()
        signed_at = _signature_timestamp(signature_header or "")
        if signed_at > now + WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookSignatureError(
                f"the signature's timestamp is more than {WEBHOOK_TOLERANCE_SECONDS} s in the "
                "future", code="invalid_signature")
        result = event.to_dict()
        check_event_shape(result)
        if result["created"] > now + WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookSignatureError(
                f"the event's created time is more than {WEBHOOK_TOLERANCE_SECONDS} s in the "
                "future", code="invalid_payload")
        return result


# -- the shape of a signed event -------------------------------------------------------------------
# Only the fields Studiobook reads are checked, with Stripe's types
# (https://docs.stripe.com/api/events/object and the objects below); everything else is
# allowed through untouched. A signed event that fails is malformed: a 400, never a 500.

_Id = Annotated[StrictStr, Field(min_length=1, max_length=255)]
_Count = Annotated[StrictInt, Field(ge=0, le=10**12)]
_Currency = Annotated[StrictStr, Field(pattern=r"^[a-zA-Z]{3}$")]


class _Shape(pydantic.BaseModel):
    model_config = ConfigDict(extra="allow")


class _Card(_Shape):
    capture_before: StrictInt | None = None


class _MethodDetails(_Shape):
    card: _Card | None = None


class _ExpandedCharge(_Shape):
    id: _Id
    payment_method_details: _MethodDetails | None = None


class _Expanded(_Shape):
    id: _Id


class _PaymentIntent(_Shape):
    """https://docs.stripe.com/api/payment_intents/object"""

    id: _Id
    object: Literal["payment_intent"]
    amount: _Count
    amount_received: _Count = 0
    amount_capturable: _Count = 0
    currency: _Currency
    status: StrictStr
    capture_method: StrictStr | None = None
    metadata: dict[str, StrictStr] | None = None
    last_payment_error: dict | None = None
    latest_charge: _Id | _ExpandedCharge | None = None
    payment_method: _Id | _Expanded | None = None
    customer: _Id | _Expanded | None = None
    setup_future_usage: StrictStr | None = None
    next_action: dict | None = None


class _SetupIntent(_Shape):
    """https://docs.stripe.com/api/setup_intents/object"""

    id: _Id
    object: Literal["setup_intent"]
    status: StrictStr
    payment_method: _Id | _Expanded | None = None
    customer: _Id | _Expanded | None = None
    last_setup_error: dict | None = None
    next_action: dict | None = None


class _Refund(_Shape):
    id: _Id
    amount: _Count
    status: StrictStr | None = None


class _RefundList(_Shape):
    data: list[_Refund] = []


class _Charge(_Shape):
    """https://docs.stripe.com/api/charges/object"""

    id: _Id
    object: Literal["charge"]
    payment_intent: _Id | _Expanded | None = None
    currency: _Currency
    refunds: _RefundList | None = None


class _Dispute(_Shape):
    """https://docs.stripe.com/api/disputes/object"""

    id: _Id
    object: Literal["dispute"]
    payment_intent: _Id | _Expanded | None = None
    charge: _Id | _Expanded | None = None
    amount: _Count = 0


class _Data(_Shape):
    object: dict


class _Event(_Shape):
    id: _Id
    object: Literal["event"]
    type: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    created: StrictInt
    data: _Data


# Event types (by prefix) whose object Studiobook reads, and that object's shape.
_OBJECT_SHAPES: tuple[tuple[str, type[_Shape]], ...] = (
    ("payment_intent.", _PaymentIntent),
    ("setup_intent.", _SetupIntent),
    ("charge.dispute.", _Dispute),
    ("charge.refunded", _Charge),
)


def check_event_shape(event: Any) -> None:
    """Raise :class:`WebhookSignatureError` (code ``invalid_payload``) unless ``event`` is a
    Stripe event (``id``, ``type``, ``created``, ``data.object``) whose object, for the types
    Studiobook handles, has the fields it reads with Stripe's types: a PaymentIntent for
    ``payment_intent.*``, a SetupIntent for ``setup_intent.*``, a Charge for
    ``charge.refunded``, a Dispute for ``charge.dispute.*``. The message names the first
    field at fault (``data.object.amount``) and the rule, never a library's text."""
    try:
        _Event.model_validate(event)
    except pydantic.ValidationError as error:
        raise _malformed(error, ()) from error
    for prefix, shape in _OBJECT_SHAPES:
        if event["type"].startswith(prefix):
            try:
                shape.model_validate(event["data"]["object"])
            except pydantic.ValidationError as error:
                raise _malformed(error, ("data", "object")) from error
            return


def _malformed(error: pydantic.ValidationError, prefix: tuple[str, ...]
               ) -> WebhookSignatureError:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in (*prefix, *first["loc"])) or "body"
    return WebhookSignatureError(f"the event's {where} is not valid ({first['type']})",
                                 code="invalid_payload")


def _signature_timestamp(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header the SDK has already verified."""
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t":
            return int(value)
    return 0


# -- mapping Stripe objects to results ------------------------------------------------------------


def payment_intent_result(intent: Mapping[str, Any]) -> IntentResult:
    """An :class:`IntentResult` from a PaymentIntent as a plain dict
    (https://docs.stripe.com/api/payment_intents/object). ``customer``, ``payment_method`` and
    ``latest_charge`` may be ids or expanded objects. ``capture_before`` is read, for
    ``capture_method == "manual"``, from an expanded ``latest_charge``'s
    ``payment_method_details.card.capture_before`` (Unix seconds) as an aware UTC datetime."""
    charge = intent.get("latest_charge")
    capture_before = None
    if intent.get("capture_method") == "manual" and isinstance(charge, Mapping):
        details = charge.get("payment_method_details") or {}
        card = details.get("card") or {}
        timestamp = card.get("capture_before")
        if timestamp is not None:
            capture_before = datetime.fromtimestamp(int(timestamp), tz=UTC)
    last_error = intent.get("last_payment_error") or {}
    return IntentResult(
        id=str(intent["id"]),
        object="payment_intent",
        status=str(intent["status"]),
        amount=int(intent.get("amount") or 0),
        amount_capturable=int(intent.get("amount_capturable") or 0),
        amount_received=int(intent.get("amount_received") or 0),
        currency=str(intent.get("currency") or ""),
        capture_method=intent.get("capture_method"),
        client_secret=intent.get("client_secret"),
        customer=_id(intent.get("customer")),
        payment_method=_id(intent.get("payment_method")),
        latest_charge=_id(charge),
        capture_before=capture_before,
        next_action_url=_next_action_url(intent.get("next_action")),
        last_error_code=last_error.get("code"),
    )


def setup_intent_result(intent: Mapping[str, Any]) -> IntentResult:
    """An :class:`IntentResult` from a SetupIntent as a plain dict
    (https://docs.stripe.com/api/setup_intents/object): no money moves, so amounts are 0,
    ``currency`` is ``""`` and ``capture_method``/``latest_charge``/``capture_before`` are
    ``None``; ``last_error_code`` comes from ``last_setup_error``."""
    last_error = intent.get("last_setup_error") or {}
    return IntentResult(
        id=str(intent["id"]),
        object="setup_intent",
        status=str(intent["status"]),
        amount=0,
        amount_capturable=0,
        amount_received=0,
        currency="",
        capture_method=None,
        client_secret=intent.get("client_secret"),
        customer=_id(intent.get("customer")),
        payment_method=_id(intent.get("payment_method")),
        latest_charge=None,
        capture_before=None,
        next_action_url=_next_action_url(intent.get("next_action")),
        last_error_code=last_error.get("code"),
    )


def _id(value: Any) -> str | None:
    """An expandable field's id, whether it came as an id or as an expanded object."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get("id")
    return str(value)


def _next_action_url(next_action: Mapping[str, Any] | None) -> str | None:
    """The URL of a ``redirect_to_url`` or hosted-page next action
    (https://docs.stripe.com/api/payment_intents/object#payment_intent_object-next_action);
    ``None`` for ``use_stripe_sdk`` (Stripe.js handles it with the client secret)."""
    if not next_action:
        return None
    details = next_action.get(next_action.get("type") or "")
    if not isinstance(details, Mapping):
        return None
    for key in _NEXT_ACTION_URL_KEYS:
        if details.get(key):
            return str(details[key])
    return None


# -- mapping SDK errors ---------------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as err:
        raise translate_error(err) from err


def translate_error(err: stripe.StripeError) -> GatewayError:
    """Map an SDK exception to :class:`GatewayError` (https://docs.stripe.com/api/errors,
    https://docs.stripe.com/error-handling):

    * ``CardError`` (402): Stripe's code (``card_declined``, ``authentication_required``...),
      not retryable, with ``decline_code`` and, when Stripe returned it, the PaymentIntent as
      ``intent``;
    * ``RateLimitError`` (429): ``rate_limit``, retryable;
    * ``APIConnectionError``: ``timeout`` when caused by a timeout, else
      ``api_connection_error``; retryable;
    * ``APIError`` (5xx, 409 ``lock_timeout``): Stripe's code or ``api_error``, retryable;
    * ``IdempotencyError`` (a key reused with other parameters): ``idempotency_error``, not
      retryable;
    * ``InvalidRequestError`` (400, 404): Stripe's code (e.g. ``resource_missing``,
      ``payment_intent_unexpected_state``) or ``invalid_request_error``, not retryable;
    * ``AuthenticationError`` (401): ``authentication_error``, not retryable;
    * ``PermissionError`` (403): ``permission_error``, not retryable;
    * any other ``StripeError``: Stripe's code or ``api_error``, not retryable.

    "Retryable" means transient: retry later with the same
    idempotency key, after reconciling a 5xx's indeterminate outcome
    (https://docs.stripe.com/error-low-level#server-errors).
    """
    body = _error_body(err)
    stripe_code = body.get("code") or err.code
    message = err.user_message or body.get("message") or type(err).__name__
    common: dict[str, Any] = {"http_status": err.http_status, "request_id": err.request_id}
    if isinstance(err, stripe.CardError):
        raw_intent = body.get("payment_intent")
        intent = payment_intent_result(raw_intent) if isinstance(raw_intent, Mapping) else None
        return GatewayError(message, code=stripe_code or "card_error", is_retryable=False,
                            decline_code=body.get("decline_code"), intent=intent, **common)
    if isinstance(err, stripe.RateLimitError):
        return GatewayError(message, code=stripe_code or "rate_limit", is_retryable=True,
                            **common)
    if isinstance(err, stripe.APIConnectionError):
        code = "timeout" if _caused_by_timeout(err) else "api_connection_error"
        return GatewayError(message, code=code, is_retryable=True, **common)
    if isinstance(err, stripe.APIError):
        return GatewayError(message, code=stripe_code or "api_error", is_retryable=True,
                            **common)
    if isinstance(err, stripe.IdempotencyError):
        return GatewayError(message, code="idempotency_error", is_retryable=False, **common)
    if isinstance(err, stripe.InvalidRequestError):
        return GatewayError(message, code=stripe_code or "invalid_request_error",
                            is_retryable=False, **common)
    if isinstance(err, stripe.AuthenticationError):
        return GatewayError(message, code="authentication_error", is_retryable=False, **common)
    if isinstance(err, stripe.PermissionError):
        return GatewayError(message, code="permission_error", is_retryable=False, **common)
    return GatewayError(message, code=stripe_code or "api_error", is_retryable=False, **common)


def _error_body(err: stripe.StripeError) -> Mapping[str, Any]:
    """The ``error`` object of the response body, as a plain dict (``{}`` if none)."""
    body = err.json_body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"]
    return {}


def _caused_by_timeout(err: BaseException) -> bool:
    """Whether the connection error was a timeout (``TimeoutError``, ``requests``'
    ``ConnectTimeout``/``ReadTimeout``, ``httpx``'s ``*Timeout``...)."""
    seen: set[int] = set()
    cause: BaseException | None = err.__cause__ or err.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__:
            return True
        cause = cause.__cause__ or cause.__context__
    return False
