from __future__ import annotations

import pytest
import time_machine

from tests.support.factories import NOW


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield
