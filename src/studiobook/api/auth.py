"""API authentication: a bearer token (``Authorization: Bearer ...``, resolved by
``accounts.middleware.BearerTokenMiddleware``) or the Django session cookie with CSRF."""

from __future__ import annotations

from ninja.security import HttpBearer, SessionAuth


class BearerAuth(HttpBearer):
    def authenticate(self, request, token):
        user = request.user
        return user if getattr(request, "auth_via_bearer", False) and user.is_authenticated \
            else None


signed_in = [BearerAuth(), SessionAuth()]
