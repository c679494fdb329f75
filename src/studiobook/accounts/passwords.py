"""Password rules of our own, beside Django's validators (``AUTH_PASSWORD_VALIDATORS``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class NotOnlyWhitespaceValidator:
    """Refuses a password made only of spaces, tabs or line breaks (Django's length check
    counts ``"        "`` as eight characters)."""

    def validate(self, password: str, user=None) -> None:
        if not password.strip():
            raise ValidationError("This password is only spaces; use letters, digits or "
                                  "symbols too.", code="password_only_whitespace")

    def get_help_text(self) -> str:
        return "Your password can't be only spaces."
