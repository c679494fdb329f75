from __future__ import annotations

import pytest
import time_machine

from studiobook.payments import services
from tests.support.factories import NOW


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
