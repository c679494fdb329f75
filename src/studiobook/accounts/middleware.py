"""Authenticates ``Authorization: Bearer <token>`` requests before the API sees them, so that
every layer (idempotency, permissions) can rely on ``request.user``."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from studiobook.accounts.models import ApiToken


def _user_for_token(token: str):
    from django.contrib.auth.models import AnonymousUser

    found = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(token), user__is_active=True)
        .first()
    )
    return found.user if found else AnonymousUser()


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        request.auth_via_bearer = False
        if scheme.lower() == "bearer" and token.strip():
            token = token.strip()
            request.user = SimpleLazyObject(lambda: _user_for_token(token))
            request.auth_via_bearer = True
        return self.get_response(request)
