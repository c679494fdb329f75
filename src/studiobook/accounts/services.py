"""Account rules that are ours to state: the form a phone number is kept in, and the life of
an API token (issue, look-up, expiry, revocation)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from studiobook.studios.errors import InvalidInput

PHONE_EXAMPLE = "+1 416 555 0100"


def normalize_phone(value: str, *, field: str = "phone") -> str:
    """``value`` as E.164 (``"+14165550100"``), the form Twilio sends to; ``""`` for a blank.

    The number must carry its country code (``+`` and the code, spaces, dots, dashes and
    brackets allowed) and be a valid number for that country by libphonenumber's metadata
    (the ``phonenumbers`` package). Raises InvalidInput naming ``field``, with rule
    ``phone_format`` (no country code, not a number) or ``phone_invalid`` (no such number).
    """
    value = (value or "").strip()
    if not value:
        return ""
    if not value.startswith("+"):
        raise InvalidInput(f"enter the number with its country code, e.g. {PHONE_EXAMPLE}",
                           field=field, rule="phone_format")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"not a phone number; write it as e.g. {PHONE_EXAMPLE}",
                           field=field, rule="phone_format") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{value} is not a valid phone number for its country code",
                           field=field, rule="phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """An E.164 number as people write it internationally (``"+1 416-555-0100"``);
    ``""`` for none, and anything unparseable as it is."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:  # stored before this rule: shown as it is
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# --- API tokens --------------------------------------------------------------------------------

# last_used_at is written at most this often per token, so that a busy client does not turn
# every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_lifetime() -> timedelta:
    """How long a new API token lives: ``settings.API_TOKEN_LIFETIME_DAYS`` (default 30)."""
    return timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)


def issue_token(user, *, now: datetime | None = None) -> str:
    """Create an API token for ``user`` and return it in clear (43 url-safe characters; only
    its SHA-256 digest is stored). It expires ``token_lifetime()`` after ``now`` (UTC) and is
    bound to the user's current password (``ApiToken.password_stamp``)."""
    from studiobook.accounts.models import ApiToken

    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=ApiToken.digest_of(token),
                            expires_at=now + token_lifetime(),
                            password_stamp=user.get_session_auth_hash())
    return token


def _stamp_matches(user, stamp: str) -> bool:
    # As django.contrib.auth.get_user() checks a session: the current key, then the
    # SECRET_KEY_FALLBACKS, so that rotating SECRET_KEY does not sign every client out at once.
    if not stamp:
        return False
    if constant_time_compare(stamp, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(stamp, fallback)
               for fallback in user.get_session_auth_fallback_hash())


def user_for_token(token: str, *, now: datetime | None = None):
    """The active user a bearer ``token`` belongs to, or None when it is unknown, expired, its
    user is inactive, or the user's password changed since it was issued (such a token is
    deleted). Writes ``last_used_at`` (UTC) when it is older than ``LAST_USED_RESOLUTION``."""
    from studiobook.accounts.models import ApiToken

    now = now or timezone.now()
    found = (ApiToken.objects.select_related("user")
             .filter(digest=ApiToken.digest_of(token), user__is_active=True,
                     expires_at__gt=now).first())
    if found is None:
        return None
    if not _stamp_matches(found.user, found.password_stamp):
        ApiToken.objects.filter(pk=found.pk).delete()
        return None
    if found.last_used_at is None or found.last_used_at <= now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user


def revoke_token(token: str) -> int:
    """Delete the API token ``token`` (given in clear). Returns how many were deleted."""
    from studiobook.accounts.models import ApiToken

    return ApiToken.objects.filter(digest=ApiToken.digest_of(token)).delete()[0]


def revoke_all_tokens(user) -> int:
    """Delete every API token of ``user`` (logout everywhere). Returns how many."""
    from studiobook.accounts.models import ApiToken

    return ApiToken.objects.filter(user=user).delete()[0]
