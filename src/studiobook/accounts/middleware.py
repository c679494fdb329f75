"""Authenticates ``Authorization: Bearer <token>`` requests before the API sees them, so that
every layer (idempotency, permissions) can rely on ``request.user``. An unknown, expired or
revoked token leaves the request anonymous (``accounts.services.user_for_token``)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from studiobook.accounts.services import user_for_token


def _user_for_token(token: str):
    from django.contrib.auth.models import AnonymousUser

    return user_for_token(token) or AnonymousUser()


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
