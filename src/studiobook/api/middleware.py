"""Request guards that sit in front of the API views."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from studiobook.api.models import IdempotencyRecord
from studiobook.api.problems import problem

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
