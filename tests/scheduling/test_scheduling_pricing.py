"""price_for (half-even, integer maths) and validate_duration."""

import pytest

from studiobook.scheduling import (
    InvalidDuration,
    InvalidQuery,
    PriceRule,
    price_for,
    validate_duration,
)


@pytest.mark.parametrize(
    ("amount", "minutes", "expected"),
    [
        (6000, 60, 6000),
        (6000, 90, 9000),
        (4500, 90, 6750),
        (1, 30, 0),  # 0.5 -> 0 (even)
        (3, 30, 2),  # 1.5 -> 2 (even)
        (5, 30, 2),  # 2.5 -> 2 (even)
        (7, 30, 4),  # 3.5 -> 4
        (1, 31, 1),  # 0.5166 -> 1
        (1, 29, 0),  # 0.4833 -> 0
        (100, 1, 2),  # 1.666 -> 2
        (101, 45, 76),  # 75.75 -> 76
        (10001, 15, 2500),  # 2500.25 -> 2500
        (10002, 15, 2500),  # 2500.5 -> 2500 (even)
        (10006, 15, 2502),  # 2501.5 -> 2502 (even)
        (999_999_999_999, 7, 116_666_666_667),  # 116666666666.55 -> exact integer maths
        (0, 120, 0),
        (-3, 30, -2),  # -1.5 -> -2 (even), refunds round the same way
        (-5, 30, -2),  # -2.5 -> -2
    ],
)
def test_hourly_price_rounds_half_to_even(amount, minutes, expected):
    got = price_for(PriceRule("hour", amount), minutes)
    assert got == expected and type(got) is int


def test_session_price_ignores_duration():
    assert price_for(PriceRule("session", 15000), 37) == 15000
    assert price_for(PriceRule("session", 15000), 600) == 15000


def test_price_for_rejects_negative_duration():
    with pytest.raises(InvalidDuration):
        price_for(PriceRule("hour", 100), -1)


def test_validate_duration_accepts_valid():
    assert validate_duration(90, minimum=60, maximum=240, step=30) is None
    assert validate_duration(60, minimum=60, maximum=60, step=60) is None
    assert validate_duration(7, minimum=None, maximum=None, step=None) is None


@pytest.mark.parametrize(
    ("duration", "rule", "message"),
    [
        (0, "positive", "duration_min must be a whole number of minutes greater than 0"),
        (-30, "positive", "duration_min must be a whole number of minutes greater than 0"),
        (30, "minimum", "duration_min must be at least 60 minutes"),
        (270, "maximum", "duration_min must be at most 240 minutes"),
        (75, "step", "duration_min must be a multiple of 30 minutes"),
    ],
)
def test_validate_duration_names_the_rule(duration, rule, message):
    with pytest.raises(InvalidDuration) as info:
        validate_duration(duration, minimum=60, maximum=240, step=30)
    assert info.value.code == "invalid_duration"
    assert info.value.rule == rule
    assert str(info.value) == message


def test_validate_duration_checks_in_order():
    # below the minimum AND off-step: the minimum is reported
    with pytest.raises(InvalidDuration) as info:
        validate_duration(45, minimum=60, maximum=240, step=30)
    assert info.value.rule == "minimum"


def test_validate_duration_rejects_bad_rules():
    with pytest.raises(InvalidQuery):
        validate_duration(60, minimum=60, maximum=240, step=0)
    with pytest.raises(InvalidDuration):
        validate_duration(True, minimum=None, maximum=None, step=None)
