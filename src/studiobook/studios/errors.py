"""Domain errors. Services raise these; the API maps ``code`` to an HTTP status and an
RFC 9457 problem body, pages map them to form errors. Codes are stable strings."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every business-rule error. ``field`` names the input at fault, when one is."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}


class InvalidInput(DomainError):
    """The input breaks a rule (a duration off the step, a date past the horizon...)."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, rule: str = "invalid",
                 extra: dict | None = None):
        super().__init__(message, field=field, extra=extra)
        self.rule = rule


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    """The request is valid but the current state forbids it (HTTP 409)."""

    code = "conflict"
