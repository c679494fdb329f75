from __future__ import annotations

import pytest
import stripe
import time_machine

from studiobook.payments import services
from studiobook.payments.gateways.stripe_gateway import StripeGateway
from tests.payments.stripe_transport import RecordingTransport
from tests.support.factories import NOW

# Test-mode credentials of the recorded responses (tests/payments/stripe_responses).
API_KEY = "sk_test_51SVwz2LkdIwHu7ixStudiobookTests"
SECRET = "whsec_9f2Kc7LqXv3Np8Rt1Ws6Yb4Hd0Mj5Ga"


@pytest.fixture
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def offline_gateway_unless_told():
    """Each test starts on the configured (offline) gateway; Stripe tests swap it in."""
    services.use_gateway(None)
    yield
    services.use_gateway(None)


@pytest.fixture
def transport(monkeypatch, settings):
    """The Stripe gateway through the real SDK, its HTTP answered by a RecordingTransport
    (the recorded responses), and webhooks signed with ``SECRET``."""
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    recording = RecordingTransport()
    services.use_gateway(StripeGateway(API_KEY, SECRET, http_client=recording,
                                       max_network_retries=0))
    return recording
