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


class PricingMisconfigured(Conflict):
    """A fee or tax stored for the studio lies outside what the pricing core accepts (a row
    saved before the limits were enforced): nothing can be priced until an admin corrects or
    retires it. The message names the fee or tax; ``extra`` has ``kind`` ("fee" or "tax"),
    ``id`` and ``name`` (HTTP 409)."""

    code = "pricing_misconfigured"


# Error class -> HTTP status, for the API's problem details and the pages alike; the first
# match wins, anything unlisted is 400.
HTTP_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
}


def http_status(error: DomainError) -> int:
    """The HTTP status that answers ``error``: 422 invalid input, 404 not found, 403
    forbidden, 409 conflict (every Conflict subclass), else 400."""
    return next((status for cls, status in HTTP_STATUS.items() if isinstance(error, cls)), 400)
