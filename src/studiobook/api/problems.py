"""RFC 9457 problem details: the body of every API error.

``{"type": "urn:studiobook:problem:<code>", "title", "status", "detail", "code",
"errors": [{"field", "rule", "message"}]}`` with Content-Type ``application/problem+json``.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from studiobook.studios import errors as studio_errors

CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(status: int, detail: str, *, code: str, errors: list[dict] | None = None,
            title: str | None = None, extensions: dict | None = None,
            headers: dict[str, str] | None = None) -> HttpResponse:
    """An ``application/problem+json`` response. ``errors`` items name ``field`` and
    ``rule``; ``extensions`` are added as RFC 9457 extension members, never replacing a
    standard member; ``headers`` are set on the response (e.g. ``Retry-After``)."""
    body = problem_body(status, detail, code=code, errors=errors, title=title)
    body.update({k: v for k, v in (extensions or {}).items() if k not in body})
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def too_many_requests(retry_after_seconds: int, *, scope: str) -> HttpResponse:
    """The 429 problem for a rate-limited request: ``Retry-After`` (RFC 9110 section 10.2.3,
    whole seconds) in the header and as the ``retry_after`` member; ``scope`` names the limit
    (``login``, ``register``, ``holds``, ``bookings``, ``payments``)."""
    seconds = max(1, int(retry_after_seconds))
    return problem(429, f"too many {scope} requests; try again in {seconds} s",
                   code="rate_limited",
                   errors=[{"field": "request", "rule": f"rate_limit:{scope}",
                            "message": f"retry after {seconds} s"}],
                   extensions={"retry_after": seconds, "limit": scope},
                   headers={"Retry-After": str(seconds)})


def problem_body(status: int, detail: str, *, code: str, errors: list[dict] | None = None,
                 title: str | None = None) -> dict:
    """The RFC 9457 members every Studiobook problem has (also used by the stream server)."""
    body = {
        "type": f"urn:studiobook:problem:{code}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def from_domain_error(error: studio_errors.DomainError) -> HttpResponse:
    status = studio_errors.http_status(error)
    errors = None
    if error.field:
        errors = [{"field": error.field, "rule": getattr(error, "rule", error.code),
                   "message": error.message}]
    return problem(status, error.message, code=error.code, errors=errors,
                   extensions=error.extra)
