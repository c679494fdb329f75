"""Errors raised by the scheduling core.

Every error is a :class:`SchedulingError`, itself a :class:`ValueError`, so
callers that only care about "bad input" can catch ``ValueError``.  Each class
carries a stable machine-readable ``code`` that API layers may forward to
clients; the human-readable message may change between releases.
"""

from __future__ import annotations


class SchedulingError(ValueError):
    """Base class of all scheduling errors; ``code`` is stable, the message is not."""

    code: str = "scheduling_error"


class InvalidDuration(SchedulingError):
    """A duration (minutes) breaks a rule: not positive, below the minimum,
    above the maximum, or not a multiple of the step.

    ``rule`` names the broken rule: ``"positive"``, ``"minimum"``,
    ``"maximum"`` or ``"step"``.
    """

    code = "invalid_duration"

    def __init__(self, message: str, *, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class InvalidQuery(SchedulingError):
    """The input itself is malformed: unknown IANA zone, naive datetime,
    empty or inverted range, negative buffer, unknown room or engineer id,
    duplicate resource ids, weekday outside ISO 1..7, and so on."""

    code = "invalid_query"
