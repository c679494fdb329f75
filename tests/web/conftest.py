"""Shared by the page tests: a frozen clock (NOW, Monday 2026-11-23 12:00 UTC) and the
offline payment gateway."""

from __future__ import annotations

import pytest
import time_machine

from studiobook.payments import services as payments
from tests.support.factories import NOW


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def offline_gateway():
    payments.use_gateway(None)
    yield
    payments.use_gateway(None)
