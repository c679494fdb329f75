"""``bookings.pricing.duration_label``: the one wording of a length of time, short (price
lines, the reschedule page, reports) and spelled out (the public pages' running text)."""

from __future__ import annotations

import pytest

from studiobook.bookings.pricing import duration_label


@pytest.mark.parametrize(("minutes", "short", "words"), [
    (0, "0 min", "0 minutes"),
    (1, "1 min", "1 minute"),
    (45, "45 min", "45 minutes"),
    (60, "1 h", "1 hour"),
    (61, "1 h 1 min", "1 hour 1 minute"),
    (90, "1 h 30 min", "1 hour 30 minutes"),
    (120, "2 h", "2 hours"),
    (150, "2 h 30 min", "2 hours 30 minutes"),
    (72_000, "1,200 h", "1,200 hours"),
])
def test_duration_label(minutes, short, words):
    assert duration_label(minutes) == short
    assert duration_label(minutes, words=True) == words
