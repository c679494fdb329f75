"""Duration validation and pricing (int minor units, never floats)."""

from __future__ import annotations

from .errors import InvalidDuration, InvalidQuery
from .money import _is_int, round_half_even
from .types import PriceRule


def validate_duration(
    duration_minutes: int,
    *,
    minimum: int | None,
    maximum: int | None,
    step: int | None,
) -> None:
    """Check a requested duration (minutes) against a service's rules.

    Rules, checked in this order: ``duration_minutes`` is an int ``> 0``,
    ``>= minimum``, ``<= maximum``, and a multiple of ``step``.  ``None``
    skips a bound.  Returns ``None`` when valid.

    Raises :class:`InvalidDuration` naming the broken rule (its ``rule``
    attribute is ``"positive"``, ``"minimum"``, ``"maximum"`` or ``"step"``),
    e.g. ``"duration_min must be a multiple of 30 minutes"``.  Raises
    :class:`InvalidQuery` if the rules themselves are malformed (non-int, or
    ``step <= 0``).
    """
    for name, value in (("minimum", minimum), ("maximum", maximum), ("step", step)):
        if value is not None and not _is_int(value):
            raise InvalidQuery(f"{name} must be an int number of minutes or None")
    if step is not None and step <= 0:
        raise InvalidQuery("step must be a positive number of minutes")
    if not _is_int(duration_minutes) or duration_minutes <= 0:
        raise InvalidDuration(
            "duration_min must be a whole number of minutes greater than 0", rule="positive"
        )
    if minimum is not None and duration_minutes < minimum:
        raise InvalidDuration(f"duration_min must be at least {minimum} minutes", rule="minimum")
    if maximum is not None and duration_minutes > maximum:
        raise InvalidDuration(f"duration_min must be at most {maximum} minutes", rule="maximum")
    if step is not None and duration_minutes % step:
        raise InvalidDuration(f"duration_min must be a multiple of {step} minutes", rule="step")


def price_for(rule: PriceRule, duration_minutes: int) -> int:
    """Price in int minor units of a session of ``duration_minutes``.

    ``"session"``: ``amount_minor``.  ``"hour"``: ``amount_minor *
    duration_minutes / 60`` rounded half-to-even (banker's rounding) to an int,
    computed with integers only.

    Raises :class:`InvalidDuration` for a negative or non-int duration.
    """
    if not _is_int(duration_minutes) or duration_minutes < 0:
        raise InvalidDuration(
            "duration_min must be a whole number of minutes, not negative", rule="positive"
        )
    if rule.unit == "session":
        return rule.amount_minor
    return round_half_even(rule.amount_minor * duration_minutes, 60)
