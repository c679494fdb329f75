"""OfflineGateway: pay at the studio or by invoice; no keys, no network, no state."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from studiobook.payments.gateways import (
    GatewayError,
    OfflineGateway,
    PaymentGateway,
    WebhookSignatureError,
    idempotency_key,
)

KEY = idempotency_key("booking", "SB-7Q4K2", "hold", 12)


@pytest.fixture
def gateway() -> OfflineGateway:
    return OfflineGateway()


def _hold(gateway: OfflineGateway, key: str = KEY, amount: int = 15000):
    return gateway.create_payment_intent(
        amount=amount, currency="CAD", capture_method="manual", customer="off_cus_1",
        save_payment_method=True, metadata={"booking": "SB-7Q4K2"}, idempotency_key=key)


def test_is_a_payment_gateway(gateway):
    assert isinstance(gateway, PaymentGateway)
    assert gateway.name == "offline"


def test_payment_intent_awaits_payment_at_the_studio(gateway):
    intent = _hold(gateway)
    assert intent.id.startswith("off_pi_")
    int(intent.id.removeprefix("off_pi_"), 16)  # hex
    assert intent.object == "payment_intent"
    assert intent.status == "requires_payment_method"
    assert (intent.amount, intent.amount_capturable, intent.amount_received) == (15000, 0, 0)
    assert (intent.currency, intent.capture_method) == ("cad", "manual")
    assert intent.customer == "off_cus_1"
    assert intent.client_secret is None
    assert intent.payment_method is None
    assert intent.capture_before is None
    assert intent.next_action_url is None


def test_ids_are_deterministic_and_short(gateway):
    assert _hold(gateway).id == _hold(gateway).id
    assert len(_hold(gateway, amount=10**9).id) <= 40
    assert _hold(gateway).id != _hold(gateway, key=KEY + ":again").id
    assert (gateway.create_customer(email="a@example.com", name="A", idempotency_key="k1")
            == gateway.create_customer(email="a@example.com", name="A", idempotency_key="k1")
            != gateway.create_customer(email="a@example.com", name="A", idempotency_key="k2"))


def test_intent_id_layout(gateway):
    intent = _hold(gateway, amount=300)
    assert intent.id.endswith("1" + b"cad".hex() + "12c")  # manual, "cad", 0x12c


def test_retrieve_reads_amount_and_currency_from_the_id(gateway):
    intent = _hold(gateway)
    again = gateway.retrieve_payment_intent(intent.id)
    assert (again.id, again.status, again.amount, again.currency, again.capture_method) == (
        intent.id, "requires_payment_method", 15000, "cad", "manual")
    assert again.amount_received == 0


def test_full_capture_succeeds(gateway):
    intent = _hold(gateway)
    captured = gateway.capture(intent_id=intent.id, amount_to_capture=None, idempotency_key="c")
    assert captured.status == "succeeded"
    assert (captured.amount, captured.amount_received, captured.amount_capturable) == (
        15000, 15000, 0)


def test_partial_capture_succeeds(gateway):
    intent = _hold(gateway)
    captured = gateway.capture(intent_id=intent.id, amount_to_capture=12000,
                               idempotency_key="c")
    assert (captured.status, captured.amount, captured.amount_received) == (
        "succeeded", 15000, 12000)


def test_capture_above_the_amount_is_refused(gateway):
    intent = _hold(gateway)
    with pytest.raises(GatewayError) as caught:
        gateway.capture(intent_id=intent.id, amount_to_capture=15001, idempotency_key="c")
    assert (caught.value.code, caught.value.is_retryable) == ("amount_too_large", False)


def test_cancel(gateway):
    intent = _hold(gateway)
    canceled = gateway.cancel(intent_id=intent.id, idempotency_key="x")
    assert (canceled.status, canceled.amount_received) == ("canceled", 0)


@pytest.mark.parametrize("amount", [15000, 5000])
def test_refund_succeeds(gateway, amount):
    intent = _hold(gateway)
    refund = gateway.refund(intent_id=intent.id, amount=amount, reason="requested_by_customer",
                            idempotency_key="r")
    assert refund.id.startswith("off_re_")
    assert (refund.status, refund.amount, refund.payment_intent) == (
        "succeeded", amount, intent.id)
    assert refund == gateway.refund(intent_id=intent.id, amount=amount, reason=None,
                                    idempotency_key="r")


def test_refund_above_the_amount_is_refused(gateway):
    intent = _hold(gateway)
    with pytest.raises(GatewayError) as caught:
        gateway.refund(intent_id=intent.id, amount=15001, reason=None, idempotency_key="r")
    assert caught.value.code == "amount_too_large"


def test_off_session_charge_leaves_the_balance_due_at_the_studio(gateway):
    balance = gateway.charge_off_session(
        amount=30000, currency="cad", customer="off_cus_1", payment_method="pm_whatever",
        metadata={}, idempotency_key=idempotency_key("booking", "SB-7Q4K2", "balance", 14))
    assert balance.id.startswith("off_pi_")
    assert balance.status == "requires_payment_method"
    assert (balance.amount, balance.amount_received, balance.capture_method) == (
        30000, 0, "automatic")
    assert balance.last_error_code is None


def test_setup_intent_cannot_save_a_card(gateway):
    setup = gateway.create_setup_intent(customer="off_cus_1", metadata={}, idempotency_key="s")
    assert setup.id.startswith("off_seti_")
    assert (setup.object, setup.status, setup.client_secret) == (
        "setup_intent", "requires_payment_method", None)
    assert (setup.amount, setup.currency, setup.capture_method) == (0, "", None)


DIGEST = "0" * 16


@pytest.mark.parametrize("intent_id", [
    "pi_3SVx5WLkdIwHu7ix0hQmA1Zc",             # a Stripe id
    "off_pi_zz",                               # not hex
    "off_pi_",
    f"off_pi_{DIGEST}1636164",                 # no amount
    f"off_pi_{DIGEST}2636164" "12c",           # unknown capture method
    f"off_pi_{DIGEST}1414243" "12c",           # currency "ABC"
    f"off_pi_{DIGEST}1636164" "012c",          # amount not canonical
    f"off_pi_{DIGEST.upper()}1636164" "12C",   # upper-case hex
])
def test_foreign_or_garbled_ids_are_missing(gateway, intent_id):
    for call in (lambda: gateway.retrieve_payment_intent(intent_id),
                 lambda: gateway.capture(intent_id=intent_id, amount_to_capture=None,
                                         idempotency_key="c"),
                 lambda: gateway.cancel(intent_id=intent_id, idempotency_key="x"),
                 lambda: gateway.refund(intent_id=intent_id, amount=1, reason=None,
                                        idempotency_key="r")):
        with pytest.raises(GatewayError) as caught:
            call()
        assert caught.value.code == "resource_missing"


@pytest.mark.parametrize(("amount", "currency"), [(-1, "cad"), (100, "ca"), (100, "c.d")])
def test_invalid_amount_or_currency(gateway, amount, currency):
    with pytest.raises(ValueError):
        gateway.create_payment_intent(
            amount=amount, currency=currency, capture_method="automatic", customer=None,
            save_payment_method=False, metadata={}, idempotency_key="k")


def test_receives_no_webhooks(gateway):
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(b'{"id": "evt_1"}', "t=1,v1=abc")
    assert caught.value.message == "offline gateway receives no webhooks"


def test_works_without_network(gateway, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the offline gateway opened a socket")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    intent = _hold(gateway)
    gateway.capture(intent_id=intent.id, amount_to_capture=None, idempotency_key="c")
    gateway.refund(intent_id=intent.id, amount=100, reason=None, idempotency_key="r")
    gateway.cancel(intent_id=intent.id, idempotency_key="x")


def test_importing_the_offline_gateway_does_not_load_stripe():
    code = ("import sys; from studiobook.payments.gateways import OfflineGateway; "
            "OfflineGateway(); print('stripe' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
