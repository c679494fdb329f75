"""The JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs.

Endpoints are thin: they parse, call a service, and shape the answer. Every error is an
RFC 9457 problem (``api.problems``)."""

from __future__ import annotations

import logging

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from studiobook.api import problems
from studiobook.api.routers import admin, auth, bookings, calendars, studios, webhooks
from studiobook.notify import api as notify_api
from studiobook.studios.errors import DomainError

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Studiobook API",
    version="1",
    description="Find free studio time, hold it, book it, and run the studio. Times are "
                "ISO 8601 UTC; money is integer minor units with an ISO 4217 currency.",
    urls_namespace="api",
)
api.add_router("/auth", auth.router)
api.add_router("/studios", studios.router)
api.add_router("/studios", admin.router)
api.add_router("", bookings.router)
api.add_router("/webhooks", webhooks.router)
api.add_router("", notify_api.router)
api.add_router("", calendars.router)


def _field_of(location: list) -> str:
    # ninja locations look like ["body", "payload", "duration_min"] or ["query", "from"].
    parts = [str(p) for p in location if p not in ("body", "query", "path", "payload")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    errors = [{"field": _field_of(list(e.get("loc", []))),
               "rule": e.get("type", "invalid"),
               "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
              for e in exc.errors]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problems.problem(422, detail, code="validation_error", errors=errors)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return problems.from_domain_error(exc)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request, exc):
    return problems.problem(401, "sign in, or send Authorization: Bearer <token>",
                            code="not_authenticated")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if exc.status_code == 400 and "parse" in str(exc).lower():
        return problems.problem(400, "the body is not valid JSON", code="malformed_json",
                                errors=[{"field": "body", "rule": "json",
                                         "message": "not valid JSON"}])
    return problems.problem(exc.status_code, str(exc), code=f"http_{exc.status_code}")


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problems.problem(404, str(exc) or "not found", code="not_found")


@api.exception_handler(Exception)
def on_unexpected(request, exc):
    logger.exception("unhandled API error", exc_info=exc)
    return problems.problem(500, "something went wrong on our side; it has been logged",
                            code="internal_error")
