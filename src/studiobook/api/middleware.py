"""Request guards that sit in front of the API views."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponseBadRequest
from django.urls import Resolver404, resolve
from django.utils import timezone

from studiobook import limits
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


INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
DIGITS = re.compile(r"[0-9]+")
JSON_TYPES = ("application/json", "application/problem+json", "application/merge-patch+json")


def _json_problems(value, path: str):
    """(field, rule, message) for each NUL in a key or string and each integer outside the
    signed 64-bit range, anywhere in a parsed JSON value; ``path`` is dotted (``add_ons.0``)."""
    if isinstance(value, str):
        if limits.NUL in value:
            yield path or "body", "nul", "must not contain a NUL character (\\u0000)"
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not limits.MIN_INT <= value <= limits.MAX_INT:
            yield (path or "body", "int64_range",
                   f"must be an integer from {limits.MIN_INT} to {limits.MAX_INT}")
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{path}.{key}" if path else str(key)
            if limits.NUL in key:
                yield field.replace(limits.NUL, "\\u0000"), "nul", "a key must not contain NUL"
                continue
            yield from _json_problems(item, field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, f"{path}.{index}" if path else str(index))


def _pair_problems(source: str, pairs):
    """The same checks for query-string or form fields (strings only): a NUL, or an integer
    written out beyond the signed 64-bit range (no Studiobook parameter takes one)."""
    for key, values in pairs:
        for value in values:
            if limits.NUL in key or limits.NUL in value:
                yield (key.replace(limits.NUL, "\\u0000") or source, "nul",
                       "must not contain a NUL character (%00)")
            elif INTEGER_TEXT.fullmatch(value.strip()) and not (
                    limits.MIN_INT <= int(value.strip()) <= limits.MAX_INT):
                yield key, "int64_range", (f"must be an integer from {limits.MIN_INT} to "
                                           f"{limits.MAX_INT}")


class EdgeInputMiddleware:
    """Refuses, before any view or query runs, input no database can take
    (``studiobook.limits``): a NUL character in the path, a query parameter, a form field or
    any JSON string or key (PostgreSQL text cannot hold one), and an integer beyond the signed
    64-bit range (SQLite's INTEGER, PostgreSQL's bigint) in a JSON body or a parameter.

    The API answers 422 naming each field (``errors[].field``, ``rule`` ``nul`` or
    ``int64_range``); a path segment that is no possible id, or holds a NUL, is a 404; pages
    get a plain 400 naming the field. Malformed JSON is left to the API's own 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = request.path.startswith("/api/")
        for segment in request.path.split("/"):
            # Only ASCII digits: str.isdigit() is also true for "²", which int() refuses.
            if limits.NUL in segment or (DIGITS.fullmatch(segment)
                                         and int(segment) > limits.MAX_ID):
                if is_api:
                    return problem(404, "not found: the path names no possible id or slug",
                                   code="not_found")
                return HttpResponseBadRequest("That address does not exist.",
                                              content_type="text/plain")
        found = list(_pair_problems("query", request.GET.lists()))
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            content_type = request.content_type or ""
            if content_type in JSON_TYPES:
                try:
                    body = json.loads(request.body or b"null")
                except (ValueError, UnicodeDecodeError):
                    body = None  # the API says what is wrong with it
                found += list(_json_problems(body, ""))
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                if is_api:
                    # Cache the (size-limited) body first, so that a view reading
                    # request.body after us (the Stripe webhook) still can.
                    request.body  # noqa: B018
                found += list(_pair_problems("form", request.POST.lists()))
        if not found:
            return self.get_response(request)
        errors = [{"field": field, "rule": rule, "message": message}
                  for field, rule, message in found]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        if is_api:
            return problem(422, detail, code="validation_error", errors=errors)
        return HttpResponseBadRequest(f"Please correct: {detail}", content_type="text/plain")


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
    a 422; a retry while the first is still running is a 409 with ``Retry-After``. Keys are
    scoped to the caller (user id, or the anonymous session). 5xx responses are not stored, so
    they can be retried.

    A running request holds the key for ``settings.API_IDEMPOTENCY_LEASE_SECONDS`` (default
    120 s, longer than any request may run). When its process dies (``kill -9``, a lost
    worker), the record stays in progress only until then: a retry of the same request after
    the lease takes the key over with one conditional UPDATE (so of two concurrent retries
    exactly one wins; the other gets the 409) and runs the request again. What the dead
    request had committed stays committed; the retry runs against that state, so a booking
    retried after its first attempt committed gets the answer a second booking of that slot
    gets (409 ``slot_unavailable``), never a second booking. Only the owner of the lease
    stores the response.
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
        now = timezone.now()
        lease = now + timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(scope=scope, key=key,
                                                          fingerprint=fingerprint,
                                                          lease_expires_at=lease)
        except IntegrityError:
            # Taken over only when the running request's lease expired (its process died).
            if not IdempotencyRecord.objects.filter(
                    Q(lease_expires_at__lte=now) | Q(lease_expires_at__isnull=True),
                    scope=scope, key=key, fingerprint=fingerprint,
                    status_code__isnull=True).update(lease_expires_at=lease):
                return self._replay(scope, key, fingerprint, now)
            record = IdempotencyRecord.objects.get(scope=scope, key=key)

        ours = IdempotencyRecord.objects.filter(pk=record.pk, lease_expires_at=lease,
                                                status_code__isnull=True)
        response = self.get_response(request)
        if response.status_code >= 500 or getattr(response, "streaming", False):
            ours.delete()
            return response
        ours.update(
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
    def _replay(scope: str, key: str, fingerprint: str, now):
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
            response = problem(409, "a request with this Idempotency-Key is still in progress",
                               code="idempotency_in_progress")
            if record.lease_expires_at is not None:
                wait = (record.lease_expires_at - now).total_seconds()
                response["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        response = HttpResponse(bytes(record.body), status=record.status_code,
                                content_type=record.content_type or None)
        response["Idempotent-Replayed"] = "true"
        return response
