"""Stored responses for ``Idempotency-Key`` requests (recording-studio-prd.md section 8,
"Idempotency"; the semantics follow Stripe's idempotent requests)."""

from django.db import models


class IdempotencyRecord(models.Model):
    """A mutation seen with an ``Idempotency-Key``. ``fingerprint`` is the SHA-256 of method,
    path and body; ``status_code`` is None while the first request is still running.
    ``lease_expires_at``: until when that running request owns the key; after it (the process
    running it died) a retry of the same request takes the key over (None: expired)."""

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key")
        ]
