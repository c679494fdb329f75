"""Users and API tokens.

A user is a person who signs in with an email address. Whether they act as an artist, a
staff member or a studio admin depends on the studio: see ``studios.Membership``.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from studiobook.accounts.encryption import EncryptedTextField


class EmailUserManager(UserManager):
    """Creates users keyed by email (no username)."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person with a login. ``is_staff``/``is_superuser`` are for platform operators only
    (Django admin); studio roles live on ``studios.Membership``."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150)
    # E.164 (accounts.services.normalize_phone), encrypted at rest.
    phone = EncryptedTextField(max_length=32, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = EmailUserManager()

    def __str__(self) -> str:
        return self.name or self.email


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored; the token itself is
    shown once, when it is issued (``accounts.services.issue_token``).

    A token is valid until ``expires_at`` (UTC; ``settings.API_TOKEN_LIFETIME_DAYS`` after
    issue) and only while the user's password is the one it was issued under:
    ``password_stamp`` is ``User.get_session_auth_hash()`` at issue time (the HMAC of the
    password hash Django uses to end sessions), so a password change by any path (allauth's
    pages, a reset link, the Django admin, ``set_password`` in a shell) revokes every token.
    ``last_used_at`` is written at most once per ``accounts.services.LAST_USED_RESOLUTION``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, db_index=True)
    password_stamp = models.CharField(max_length=128, blank=True)

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User) -> str:
        """Create a token for ``user`` and return it in clear (43 url-safe characters); see
        ``accounts.services.issue_token``."""
        from studiobook.accounts.services import issue_token

        return issue_token(user)
