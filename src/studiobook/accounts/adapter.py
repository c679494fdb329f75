"""Studiobook's django-allauth adapter (``ACCOUNT_ADAPTER``)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Allauth's behaviour, with the failed-login budget kept per account only.

    Allauth keys its ``login_failed`` per-account limit by ``<site domain>:<email>``; without
    ``django.contrib.sites`` the domain is the request's ``Host`` header, so a client could
    start a fresh budget for the same account by varying ``Host``. One key per address
    (lower case) closes that; the API's sign-in (``api.routers.auth.login``) goes through
    ``authenticate`` here too, so the browser form and the API share the same count."""

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        login = credentials.get("email", credentials.get("username", "")) or ""
        return f"login:{login.strip().lower()}"
