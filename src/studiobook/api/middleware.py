"""Request guards that sit in front of the API views."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import Resolver404, resolve

from studiobook.api.models import IdempotencyRecord
from studiobook.api.problems import problem, too_many_requests

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Auth responses carry bearer tokens: never stored, never replayed.
NOT_IDEMPOTENT_PREFIXES = ("/api/auth/",)


class BodySizeLimitMiddleware:
    """413 for API bodies over ``settings.API_MAX_BODY_BYTES``, before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return problem(400, "Content-Length is not a number", code="bad_length")
            if length > settings.API_MAX_BODY_BYTES:
                return problem(
                    413, f"the body is {length} bytes; the limit is "
                    f"{settings.API_MAX_BODY_BYTES}", code="body_too_large",
                    errors=[{"field": "body", "rule": "max_bytes",
                             "message": f"at most {settings.API_MAX_BODY_BYTES} bytes"}])
        return self.get_response(request)


# What the API's body-taking endpoints accept: JSON, and nothing else (every operation in the
# OpenAPI document declares application/json). A form-encoded or text/plain body is what a
# cross-site <form> can send without a CORS preflight, so accepting one would let another site
# sign a visitor in (login CSRF) or act for them. Add an entry here (url name -> media types)
# only for an endpoint that declares another type.
DEFAULT_BODY_TYPES = frozenset({"application/json"})
DECLARED_BODY_TYPES: dict[str, frozenset[str]] = {}


def view_name(request) -> str:
    """The namespaced url name the request goes to (``""`` for none). Resolved here, in
    ``__call__``, because these guards run before the idempotency middleware stores a
    response: a refused request must not become the stored answer for its key."""
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


def media_type(request) -> str:
    """The request's Content-Type without parameters, lower case (``""`` when absent)."""
    return request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()


def has_body(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > 0 or "HTTP_TRANSFER_ENCODING" in request.META


class RateLimitMiddleware:
    """429 for a POST to a hold, booking or payment view (API or page) once the caller's user
    or IP budget is spent (``api.ratelimits``), before the view runs. After the
    authentication middlewares, so that a bearer token's user is counted, and before the
    idempotency middleware, so that a 429 is never stored as a key's answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.refuse(request) or self.get_response(request)

    @staticmethod
    def refuse(request):
        from studiobook.api import ratelimits

        if request.method != "POST":
            return None
        scope = ratelimits.SCOPE_OF_VIEW.get(view_name(request))
        if scope is None:
            return None
        wait = ratelimits.retry_after(request, scope)
        if wait is None:
            return None
        if request.path.startswith("/api/"):
            return too_many_requests(wait, scope=scope)
        from django.shortcuts import render

        response = render(request, "429.html", {"retry_after": wait, "scope": scope},
                          status=429)
        response["Retry-After"] = str(wait)
        return response


class ContentTypeMiddleware:
    """415 for an API request with a body whose Content-Type is not one the endpoint declares
    (``application/json`` for all of them today), before the view, a session or anything
    else happens. ``POST /api/auth/login`` with ``text/plain`` is refused here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.refuse(request) or self.get_response(request)

    @staticmethod
    def refuse(request):
        if (not request.path.startswith("/api/") or request.method not in MUTATING
                or not (has_body(request) or request.path.startswith(BODY_REQUIRED_PREFIXES))):
            return None
        declared = DECLARED_BODY_TYPES.get(view_name(request), DEFAULT_BODY_TYPES)
        given = media_type(request)
        if given in declared:
            return None
        accepted = ", ".join(sorted(declared))
        return problem(415, f"send the body as {accepted} (Content-Type: "
                       f"{given or 'none'} is not accepted here)", code="unsupported_media_type",
                       errors=[{"field": "Content-Type", "rule": "media_type",
                                "message": f"must be {accepted}"}],
                       headers={"Accept": accepted})


# The auth endpoints always take a JSON body: even an empty one must say so, so that no
# cross-site form can reach them.
BODY_REQUIRED_PREFIXES = ("/api/auth/login", "/api/auth/register")


class IdempotencyMiddleware:
    """``Idempotency-Key`` for API mutations, as Stripe's idempotent requests work: the same key
    with the same method, path and body replays the first response (header
    ``Idempotent-Replayed: true``) and does nothing more; the same key with another request is
    a 422; a retry while the first is still running is a 409. Keys are scoped to the caller
    (user id, or the anonymous session). 5xx responses are not stored, so they can be retried.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key")
        if (key is None or request.method not in MUTATING
                or not request.path.startswith("/api/")
                or request.path.startswith(NOT_IDEMPOTENT_PREFIXES)):
            return self.get_response(request)
        if not key or len(key) > 255:
            return problem(400, "Idempotency-Key must be 1 to 255 characters",
                           code="bad_idempotency_key",
                           errors=[{"field": "Idempotency-Key", "rule": "length",
                                    "message": "1 to 255 characters"}])
        scope = self._scope(request)
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.path.encode(), request.body])
        ).hexdigest()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(scope=scope, key=key,
                                                          fingerprint=fingerprint)
        except IntegrityError:
            return self._replay(scope, key, fingerprint)

        response = self.get_response(request)
        if response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
        return response

    @staticmethod
    def _scope(request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        return f"anon:{session_key or request.META.get('REMOTE_ADDR', '')}"

    @staticmethod
    def _replay(scope: str, key: str, fingerprint: str):
        from django.http import HttpResponse

        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is None:  # deleted after a 5xx between our insert and this read
            return problem(409, "a request with this Idempotency-Key just failed; retry",
                           code="idempotency_retry")
        if record.fingerprint != fingerprint:
            return problem(
                422, "this Idempotency-Key was used with a different request",
                code="idempotency_key_reused",
                errors=[{"field": "Idempotency-Key", "rule": "same_request",
                         "message": "reuse a key only to retry the identical request"}])
        if record.status_code is None:
            return problem(409, "a request with this Idempotency-Key is still in progress",
                           code="idempotency_in_progress")
        response = HttpResponse(bytes(record.body), status=record.status_code,
                                content_type=record.content_type or None)
        response["Idempotent-Replayed"] = "true"
        return response
