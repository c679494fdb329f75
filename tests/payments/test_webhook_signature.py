"""Webhook verification with real signatures (https://docs.stripe.com/webhooks#verify-events).

Signatures are built here the way Stripe builds them: ``v1`` is the hex HMAC-SHA256 of
``f"{t}.{payload}"`` keyed with the endpoint secret, sent as ``Stripe-Signature: t=...,v1=...``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from studiobook.payments.gateways import StripeGateway, WebhookSignatureError
from studiobook.payments.gateways.stripe_gateway import WEBHOOK_TOLERANCE_SECONDS
from tests.payments.stripe_transport import FIXTURES, RecordingTransport

SECRET = "whsec_9f2Kc7LqXv3Np8Rt1Ws6Yb4Hd0Mj5Ga"
PAYLOAD = (FIXTURES / "event_payment_intent_amount_capturable_updated.json").read_bytes()


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    v1 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


@pytest.fixture
def gateway() -> StripeGateway:
    # A transport that fails any request: verifying a webhook must not touch the network.
    return StripeGateway("sk_test_webhooks", SECRET, http_client=RecordingTransport(),
                         max_network_retries=0)


def test_tolerance_is_stripes_default():
    assert WEBHOOK_TOLERANCE_SECONDS == 300


def test_valid_signature_gives_the_event_as_a_plain_dict(gateway):
    event = gateway.parse_webhook(PAYLOAD, sign(PAYLOAD))
    assert type(event) is dict
    assert event == json.loads(PAYLOAD)
    assert event["id"] == "evt_3SVx5WLkdIwHu7ix0Ue7Wq2D"
    assert event["type"] == "payment_intent.amount_capturable_updated"
    assert type(event["data"]["object"]) is dict
    assert event["data"]["object"]["status"] == "requires_capture"


def test_a_signature_within_the_tolerance_is_accepted(gateway):
    header = sign(PAYLOAD, timestamp=int(time.time()) - WEBHOOK_TOLERANCE_SECONDS + 30)
    assert gateway.parse_webhook(PAYLOAD, header)["object"] == "event"


def test_any_matching_v1_signature_is_accepted_while_secrets_roll(gateway):
    t = int(time.time())
    old = sign(PAYLOAD, secret="whsec_previous", timestamp=t).split(",")[1]
    header = f"{sign(PAYLOAD, timestamp=t)},{old}"
    assert gateway.parse_webhook(PAYLOAD, header)["id"].startswith("evt_")


def test_tampered_payload_is_refused(gateway):
    header = sign(PAYLOAD)
    tampered = PAYLOAD.replace(b'"amount": 15000', b'"amount": 1500')
    assert tampered != PAYLOAD
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(tampered, header)


def test_wrong_secret_is_refused(gateway):
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(PAYLOAD, sign(PAYLOAD, secret="whsec_someone_else"))


def test_stale_timestamp_is_refused(gateway):
    stale = int(time.time()) - WEBHOOK_TOLERANCE_SECONDS - 1
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(PAYLOAD, sign(PAYLOAD, timestamp=stale))
    assert "tolerance" in caught.value.message


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(gateway, header):
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(PAYLOAD, header)


@pytest.mark.parametrize("header", ["garbage", "t=notanumber,v1=abc", f"t={int(time.time())}",
                                    f"t={int(time.time())},v0=abc"])
def test_malformed_header_is_refused(gateway, header):
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(PAYLOAD, header)


def test_signed_body_that_is_not_an_event_is_refused(gateway):
    body = b"not json"
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(body, sign(body))
    assert caught.value.code == "invalid_payload"


def test_a_gateway_without_webhook_secret_refuses_everything():
    gateway = StripeGateway("sk_test_webhooks", "", http_client=RecordingTransport())
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(PAYLOAD, sign(PAYLOAD, secret=""))


def test_signature_errors_are_never_retryable(gateway):
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(PAYLOAD, None)
    assert caught.value.is_retryable is False
    assert caught.value.code == "invalid_signature"


def test_a_timestamp_in_the_future_beyond_the_tolerance_is_refused(gateway):
    """The SDK only refuses old timestamps; a signature dated more than the tolerance ahead
    is refused too (issue 9, section 2), and one within it (clock skew) is accepted."""
    ahead = int(time.time()) + WEBHOOK_TOLERANCE_SECONDS + 1
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(PAYLOAD, sign(PAYLOAD, timestamp=ahead))
    assert (caught.value.code, caught.value.message) == (
        "invalid_signature", "the signature's timestamp is more than 300 s in the future")
    skewed = int(time.time()) + WEBHOOK_TOLERANCE_SECONDS - 30
    assert gateway.parse_webhook(PAYLOAD, sign(PAYLOAD, timestamp=skewed))["object"] == "event"


@pytest.mark.parametrize("body", [b"[]", b"null", b"{}", b'{"object": "event"}'])
def test_a_signed_body_that_is_not_an_event_object_is_invalid_payload(gateway, body):
    with pytest.raises(WebhookSignatureError) as caught:
        gateway.parse_webhook(body, sign(body))
    assert caught.value.code == "invalid_payload"
