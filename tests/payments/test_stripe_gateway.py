"""StripeGateway against the real ``stripe`` SDK with a recorded transport.

Only the SDK's HTTP client is replaced (``RecordingTransport``): the gateway builds its
requests through the SDK, the SDK encodes them and parses Stripe-shaped responses from
``stripe_responses/``. The tests assert what was sent (path, form fields, ``Idempotency-Key``)
and what the gateway made of the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from studiobook.payments.gateways import (
    GatewayError,
    IntentResult,
    PaymentGateway,
    StripeGateway,
    idempotency_key,
)
from tests.payments.stripe_transport import RecordingTransport

API_KEY = "sk_test_51SVwz2LkdIwHu7ixStudiobookTests"
WEBHOOK_SECRET = "whsec_test_studiobook"
CUSTOMER = "cus_TbQx7Lw3mN2pRa"
PAYMENT_METHOD = "pm_1SVx4uLkdIwHu7ixQ2rT9vKb"
HOLD = "pi_3SVx5WLkdIwHu7ix0hQmA1Zc"
HOLD_CHARGE = "ch_3SVx5WLkdIwHu7ix0Yb2kLq8"
METADATA = {"booking": "SB-7Q4K2", "payment": "12"}


@pytest.fixture(autouse=True)
def _no_sdk_telemetry(monkeypatch):
    # The SDK's telemetry persists an id under ~/.config/stripe; tests must not write there.
    monkeypatch.setattr(stripe, "enable_telemetry", False)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def gateway(transport) -> StripeGateway:
    # No SDK retries in tests: a retried 5xx would sleep with backoff.
    return StripeGateway(API_KEY, WEBHOOK_SECRET, http_client=transport, max_network_retries=0)


def test_is_a_payment_gateway(gateway):
    assert isinstance(gateway, PaymentGateway)
    assert gateway.name == "stripe"


def test_uses_its_own_client_and_never_the_global_api_key(gateway, transport):
    transport.reply("POST", "/v1/customers", "customer.json")
    gateway.create_customer(email="nadia@example.com", name="Nadia Okafor",
                            idempotency_key="studiobook:user:7:customer")
    assert stripe.api_key is None
    assert transport.last.headers["Authorization"] == f"Bearer {API_KEY}"
    assert transport.last.headers["Stripe-Version"]  # the SDK pins its API version


def test_refuses_an_empty_api_key():
    with pytest.raises(ValueError):
        StripeGateway("", WEBHOOK_SECRET)


# -- idempotency keys ----------------------------------------------------------------------


def test_idempotency_key_is_stable_and_prefixed():
    key = idempotency_key("booking", "SB-X", "capture", 12)
    assert key == "studiobook:booking:SB-X:capture:12"


@pytest.mark.parametrize("parts", [(), ("booking", None), ("booking", ""), ("a:b", "c"),
                                   ("x" * 250,)])
def test_idempotency_key_refuses_ambiguous_or_oversized_parts(parts):
    with pytest.raises(ValueError):
        idempotency_key(*parts)


# -- customers -----------------------------------------------------------------------------


def test_create_customer(gateway, transport):
    transport.reply("POST", "/v1/customers", "customer.json")
    key = idempotency_key("user", 7, "customer")
    assert gateway.create_customer(email="nadia@example.com", name="Nadia Okafor",
                                   idempotency_key=key) == CUSTOMER
    sent = transport.last
    assert (sent.method, sent.path) == ("POST", "/v1/customers")
    assert sent.form == {"email": "nadia@example.com", "name": "Nadia Okafor"}
    assert sent.idempotency_key == key


# -- manual capture: a hold, captured later ---------------------------------------------------


def test_manual_capture_intent_is_created_unconfirmed(gateway, transport):
    transport.reply("POST", "/v1/payment_intents", "payment_intent_manual_created.json")
    key = idempotency_key("booking", "SB-7Q4K2", "hold", 12)
    result = gateway.create_payment_intent(
        amount=15000, currency="CAD", capture_method="manual", customer=CUSTOMER,
        save_payment_method=False, metadata=METADATA, idempotency_key=key)

    sent = transport.last
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert sent.form == {
        "amount": "15000",
        "currency": "cad",
        "capture_method": "manual",
        "customer": CUSTOMER,
        "metadata[booking]": "SB-7Q4K2",
        "metadata[payment]": "12",
        "expand[0]": "latest_charge",
    }
    assert sent.idempotency_key == key
    assert result == IntentResult(
        id=HOLD, object="payment_intent", status="requires_payment_method", amount=15000,
        amount_capturable=0, amount_received=0, currency="cad", capture_method="manual",
        client_secret=f"{HOLD}_secret_e7Rq1pVdY3fNwKzT8sHcL0uJb", customer=CUSTOMER,
        payment_method=None, latest_charge=None, capture_before=None, next_action_url=None,
        last_error_code=None)


def test_confirmed_hold_reads_capture_before_as_aware_utc(gateway, transport):
    transport.reply("GET", f"/v1/payment_intents/{HOLD}", "payment_intent_requires_capture.json")
    result = gateway.retrieve_payment_intent(HOLD)

    sent = transport.last
    assert sent.method == "GET"
    assert sent.query == {"expand[0]": "latest_charge"}
    assert sent.idempotency_key is None  # reads carry no key
    assert result.status == "requires_capture"
    assert result.amount_capturable == 15000
    assert result.payment_method == PAYMENT_METHOD
    assert result.latest_charge == HOLD_CHARGE  # the id, though the charge came expanded
    assert result.capture_before == datetime(2026, 11, 27, 15, 2, 10, tzinfo=UTC)
    assert result.capture_before.utcoffset().total_seconds() == 0


def test_full_capture_sends_no_amount(gateway, transport):
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture", "payment_intent_captured.json")
    key = idempotency_key("booking", "SB-7Q4K2", "capture", 12)
    result = gateway.capture(intent_id=HOLD, amount_to_capture=None, idempotency_key=key)

    sent = transport.last
    assert (sent.method, sent.path) == ("POST", f"/v1/payment_intents/{HOLD}/capture")
    assert sent.form == {"expand[0]": "latest_charge"}
    assert sent.idempotency_key == key
    assert (result.status, result.amount_received, result.amount_capturable) == (
        "succeeded", 15000, 0)


def test_partial_capture_sends_amount_to_capture(gateway, transport):
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture",
                    "payment_intent_captured_partial.json")
    key = idempotency_key("booking", "SB-7Q4K2", "capture", 12)
    result = gateway.capture(intent_id=HOLD, amount_to_capture=12000, idempotency_key=key)

    assert transport.last.form == {"amount_to_capture": "12000", "expand[0]": "latest_charge"}
    assert transport.last.idempotency_key == key
    assert result.status == "succeeded"
    assert (result.amount, result.amount_received, result.amount_capturable) == (15000, 12000, 0)


def test_cancel_releases_the_hold(gateway, transport):
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/cancel", "payment_intent_canceled.json")
    key = idempotency_key("booking", "SB-7Q4K2", "cancel", 12)
    result = gateway.cancel(intent_id=HOLD, idempotency_key=key)

    assert (transport.last.method, transport.last.path) == (
        "POST", f"/v1/payment_intents/{HOLD}/cancel")
    assert transport.last.idempotency_key == key
    assert (result.status, result.amount_capturable, result.amount_received) == (
        "canceled", 0, 0)


def test_requires_action_exposes_the_redirect_url(gateway, transport):
    intent_id = "pi_3SVx8eLkdIwHu7ix0aS5GdJy"
    transport.reply("GET", f"/v1/payment_intents/{intent_id}",
                    "payment_intent_requires_action.json")
    result = gateway.retrieve_payment_intent(intent_id)
    assert result.status == "requires_action"
    assert result.next_action_url.startswith("https://hooks.stripe.com/3d_secure_2/hosted?")
    assert result.capture_before is None  # no charge yet


# -- automatic capture ----------------------------------------------------------------------


def test_automatic_capture_intent_without_customer(gateway, transport):
    transport.reply("POST", "/v1/payment_intents", "payment_intent_automatic_created.json")
    key = idempotency_key("booking", "SB-9M3TD", "payment", 31)
    result = gateway.create_payment_intent(
        amount=40000, currency="cad", capture_method="automatic", customer=None,
        save_payment_method=False, metadata={"booking": "SB-9M3TD", "payment": "31"},
        idempotency_key=key)

    form = transport.last.form
    assert form["capture_method"] == "automatic"
    assert form["amount"] == "40000"
    assert "customer" not in form
    assert "setup_future_usage" not in form
    assert transport.last.idempotency_key == key
    assert result.capture_method == "automatic"
    assert result.customer is None
    assert result.capture_before is None


# -- deposit saving the card, then the balance off-session --------------------------------------


def test_deposit_saves_the_card_then_balance_is_charged_off_session(gateway, transport):
    deposit_id = "pi_3SVx7CLkdIwHu7ix1Kc4TuPo"
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_deposit_created.json")
    transport.reply("GET", f"/v1/payment_intents/{deposit_id}",
                    "payment_intent_deposit_succeeded.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_off_session_succeeded.json")

    customer = gateway.create_customer(email="nadia@example.com", name="Nadia Okafor",
                                       idempotency_key=idempotency_key("user", 7, "customer"))
    deposit_key = idempotency_key("booking", "SB-7Q4K2", "deposit", 13)
    deposit = gateway.create_payment_intent(
        amount=10000, currency="cad", capture_method="automatic", customer=customer,
        save_payment_method=True,
        metadata={"booking": "SB-7Q4K2", "payment": "13", "kind": "deposit"},
        idempotency_key=deposit_key)
    deposit_request = transport.last
    assert deposit_request.form["setup_future_usage"] == "off_session"
    assert deposit_request.form["customer"] == CUSTOMER
    assert deposit_request.form["capture_method"] == "automatic"
    assert deposit_request.idempotency_key == deposit_key
    assert deposit.client_secret.startswith(f"{deposit_id}_secret_")

    # The customer confirms in the browser; the service then reads the saved payment method.
    paid = gateway.retrieve_payment_intent(deposit.id)
    assert (paid.status, paid.amount_received) == ("succeeded", 10000)
    assert paid.payment_method == PAYMENT_METHOD
    assert paid.capture_before is None  # automatic capture: no hold to expire

    balance_key = idempotency_key("booking", "SB-7Q4K2", "balance", 14)
    balance = gateway.charge_off_session(
        amount=30000, currency="CAD", customer=customer, payment_method=paid.payment_method,
        metadata={"booking": "SB-7Q4K2", "payment": "14", "kind": "balance"},
        idempotency_key=balance_key)
    sent = transport.last
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert sent.form == {
        "amount": "30000",
        "currency": "cad",
        "customer": CUSTOMER,
        "payment_method": PAYMENT_METHOD,
        "off_session": "true",
        "confirm": "true",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[booking]": "SB-7Q4K2",
        "metadata[payment]": "14",
        "metadata[kind]": "balance",
        "expand[0]": "latest_charge",
    }
    assert sent.idempotency_key == balance_key
    assert (balance.status, balance.amount_received) == ("succeeded", 30000)
    assert balance.latest_charge == "ch_3SWa2nLkdIwHu7ix0cM5LrUa"
    assert [r.idempotency_key for r in transport.sent] == [
        "studiobook:user:7:customer", deposit_key, None, balance_key]
    assert transport.unused() == []


def test_saving_a_payment_method_needs_a_customer(gateway, transport):
    with pytest.raises(ValueError):
        gateway.create_payment_intent(
            amount=10000, currency="cad", capture_method="automatic", customer=None,
            save_payment_method=True, metadata={}, idempotency_key="k")
    assert transport.sent == []


# -- setup intents ---------------------------------------------------------------------------


def test_create_setup_intent(gateway, transport):
    transport.reply("POST", "/v1/setup_intents", "setup_intent_created.json")
    key = idempotency_key("booking", "SB-7Q4K2", "card_on_file")
    result = gateway.create_setup_intent(
        customer=CUSTOMER, metadata={"booking": "SB-7Q4K2", "purpose": "card_on_file"},
        idempotency_key=key)

    sent = transport.last
    assert (sent.method, sent.path) == ("POST", "/v1/setup_intents")
    assert sent.form == {"customer": CUSTOMER, "usage": "off_session",
                         "metadata[booking]": "SB-7Q4K2", "metadata[purpose]": "card_on_file"}
    assert sent.idempotency_key == key
    assert result.id == "seti_1SVx9hLkdIwHu7ixyV3KqM6b"
    assert result.object == "setup_intent"
    assert result.status == "requires_payment_method"
    assert result.client_secret.startswith("seti_1SVx9hLkdIwHu7ixyV3KqM6b_secret_")
    assert (result.amount, result.currency, result.capture_method) == (0, "", None)


# -- refunds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "amount", "reason", "refund_id"), [
    ("refund_full.json", 15000, "requested_by_customer", "re_3SVx5WLkdIwHu7ix0Nf2PwQa"),
    ("refund_partial.json", 5000, None, "re_3SVx5WLkdIwHu7ix0Bx9KdLe"),
])
def test_refund(gateway, transport, fixture, amount, reason, refund_id):
    transport.reply("POST", "/v1/refunds", fixture)
    key = idempotency_key("booking", "SB-7Q4K2", "refund", 3)
    result = gateway.refund(intent_id=HOLD, amount=amount, reason=reason, idempotency_key=key)

    expected_form = {"payment_intent": HOLD, "amount": str(amount)}
    if reason:
        expected_form["reason"] = reason
    assert transport.last.form == expected_form
    assert transport.last.idempotency_key == key
    assert (result.id, result.status, result.amount, result.payment_intent) == (
        refund_id, "succeeded", amount, HOLD)


# -- errors -----------------------------------------------------------------------------------


def _charge_balance(gateway):
    return gateway.charge_off_session(
        amount=30000, currency="cad", customer=CUSTOMER, payment_method=PAYMENT_METHOD,
        metadata={"booking": "SB-7Q4K2", "payment": "14", "kind": "balance"},
        idempotency_key=idempotency_key("booking", "SB-7Q4K2", "balance", 14))


def test_card_declined_for_insufficient_funds(gateway, transport):
    transport.reply("POST", "/v1/payment_intents", "error_card_declined.json", status=402)
    with pytest.raises(GatewayError) as caught:
        _charge_balance(gateway)
    error = caught.value
    assert error.code == "card_declined"
    assert error.decline_code == "insufficient_funds"
    assert error.message == "Your card has insufficient funds."
    assert error.is_retryable is False
    assert error.http_status == 402
    assert error.request_id == "req_test0001"
    assert error.intent.id == "pi_3SWa3pLkdIwHu7ix1D8fKsQn"
    assert error.intent.status == "requires_payment_method"
    assert error.intent.last_error_code == "card_declined"
    assert isinstance(error.__cause__, stripe.CardError)


def test_authentication_required_off_session_returns_the_intent(gateway, transport):
    transport.reply("POST", "/v1/payment_intents", "error_authentication_required.json",
                    status=402)
    with pytest.raises(GatewayError) as caught:
        _charge_balance(gateway)
    error = caught.value
    assert error.code == "authentication_required"
    assert error.is_retryable is False
    assert error.intent.id == "pi_3SWa4rLkdIwHu7ix0JmX2bTe"
    assert error.intent.status == "requires_payment_method"
    assert error.intent.last_error_code == "authentication_required"
    assert error.intent.client_secret.startswith("pi_3SWa4rLkdIwHu7ix0JmX2bTe_secret_")
    assert error.intent.latest_charge == "ch_3SWa4rLkdIwHu7ix0hN6ZqKp"


def test_server_error_is_retryable(gateway, transport):
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture", "error_api.json", status=500)
    with pytest.raises(GatewayError) as caught:
        gateway.capture(intent_id=HOLD, amount_to_capture=None, idempotency_key="k")
    assert (caught.value.code, caught.value.is_retryable, caught.value.http_status) == (
        "api_error", True, 500)
    assert len(transport.sent) == 1  # max_network_retries=0: the SDK did not retry


@pytest.mark.parametrize(("cause", "code"), [
    (ConnectionRefusedError(111, "Connection refused"), "api_connection_error"),
    (TimeoutError("The read operation timed out"), "timeout"),
])
def test_network_failure_is_retryable(gateway, transport, cause, code):
    transport.fail("POST", "/v1/payment_intents", cause)
    with pytest.raises(GatewayError) as caught:
        _charge_balance(gateway)
    assert (caught.value.code, caught.value.is_retryable) == (code, True)
    assert caught.value.intent is None


def test_rate_limit_is_retryable(gateway, transport):
    transport.reply("POST", "/v1/refunds", "error_rate_limit.json", status=429)
    with pytest.raises(GatewayError) as caught:
        gateway.refund(intent_id=HOLD, amount=100, reason=None, idempotency_key="k")
    assert (caught.value.code, caught.value.is_retryable) == ("rate_limit", True)


def test_invalid_request_is_not_retryable(gateway, transport):
    missing = "pi_3SVzzzLkdIwHu7ix0Missing0"
    transport.reply("GET", f"/v1/payment_intents/{missing}", "error_resource_missing.json",
                    status=404)
    with pytest.raises(GatewayError) as caught:
        gateway.retrieve_payment_intent(missing)
    assert (caught.value.code, caught.value.is_retryable) == ("resource_missing", False)
    assert caught.value.message == f"No such payment_intent: '{missing}'"


def test_bad_api_key_is_not_retryable(gateway, transport):
    transport.reply("POST", "/v1/customers", "error_authentication.json", status=401)
    with pytest.raises(GatewayError) as caught:
        gateway.create_customer(email="a@example.com", name="A", idempotency_key="k")
    assert (caught.value.code, caught.value.is_retryable) == ("authentication_error", False)


def test_idempotency_key_reused_with_other_parameters(gateway, transport):
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture", "error_idempotency.json",
                    status=400)
    with pytest.raises(GatewayError) as caught:
        gateway.capture(intent_id=HOLD, amount_to_capture=100,
                        idempotency_key="studiobook:booking:SB-7Q4K2:capture:12")
    assert (caught.value.code, caught.value.is_retryable) == ("idempotency_error", False)


def test_sdk_retries_resend_the_same_idempotency_key(transport, monkeypatch):
    monkeypatch.setattr(transport, "_sleep_time_seconds", lambda num_retries: 0)
    gateway = StripeGateway(API_KEY, WEBHOOK_SECRET, http_client=transport,
                            max_network_retries=1)
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture", "error_api.json", status=500)
    transport.reply("POST", f"/v1/payment_intents/{HOLD}/capture", "payment_intent_captured.json")
    key = idempotency_key("booking", "SB-7Q4K2", "capture", 12)
    result = gateway.capture(intent_id=HOLD, amount_to_capture=None, idempotency_key=key)
    assert result.status == "succeeded"
    assert [r.idempotency_key for r in transport.sent] == [key, key]
