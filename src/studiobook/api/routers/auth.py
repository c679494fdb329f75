"""POST /api/auth/register, /login, /logout; GET /api/auth/session.

Sign-in and sign-up follow the web's rules through django-allauth: the same rate limits (one
budget for the browser form and the API, checked before the password is hashed), the same
email verification (``ACCOUNT_EMAIL_VERIFICATION``; mandatory by default: no token and no
session until the address is confirmed, by the same link as the web sign-up's) and the same
password validators (``AUTH_PASSWORD_VALIDATORS``)."""

from __future__ import annotations

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.utils import has_verified_email, setup_user_email
from django import forms
from django.contrib import auth as django_auth
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from ninja import Body, Router, Status

from studiobook.accounts import services as accounts
from studiobook.api import ratelimits
from studiobook.api.auth import signed_in
from studiobook.api.problems import problem, too_many_requests
from studiobook.api.schemas import (
    LoginIn,
    LogoutIn,
    LogoutOut,
    RegisterIn,
    RegisterOut,
    SessionOut,
    TokenOut,
    UserOut,
)
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import Membership

router = Router(tags=["auth"])


def user_out(user) -> dict:
    memberships = Membership.objects.filter(user=user).select_related("studio")
    return {"id": user.id, "email": user.email, "name": user.name,
            "memberships": [{"studio": m.studio.slug, "role": m.role} for m in memberships]}


def _signed_in(request, user) -> dict:
    django_auth.login(request, user,
                      backend="allauth.account.auth_backends.AuthenticationBackend")
    return {"token": accounts.issue_token(user), "user": user_out(user)}


def verification_mandatory() -> bool:
    return allauth_settings.EMAIL_VERIFICATION == allauth_settings.EmailVerificationMethod.MANDATORY


def _send_confirmation(request, user, *, signup: bool) -> None:
    """Email allauth's confirmation link for ``user``'s address (at most once per allauth's
    ``confirm_email`` cooldown; a skipped send is fine: the earlier link still works)."""
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(user=user, email=user.email.lower(),
                                              primary=True, verified=False)
    if ratelimits.allauth_consume(request, "confirm_email", key=address.email) is None:
        address.send_confirmation(request, signup=signup)


@router.post("/register", response={201: RegisterOut}, auth=None,
             openapi_extra={"responses": {
                 415: {"description": "the body is not application/json"},
                 429: {"description": "too many sign-ups from this address (Retry-After)"}}})
def register(request, payload: RegisterIn):
    """Create an artist account, under the web sign-up's rules: at most
    ``ACCOUNT_RATE_LIMITS["signup"]`` per IP (shared with /accounts/signup/), the password
    checked by ``AUTH_PASSWORD_VALIDATORS`` (errors name ``password``), and the address
    confirmed by email before the account gets a token or a session when
    ``ACCOUNT_EMAIL_VERIFICATION`` is mandatory (the default). Otherwise the answer carries a
    bearer token and signs the session in."""
    wait = ratelimits.allauth_consume(request, "signup")
    if wait is not None:
        return too_many_requests(wait, scope="register")
    email = payload.email.strip().lower()
    user_model = get_user_model()
    candidate = user_model(email=email, name=payload.name)
    try:
        password_validation.validate_password(payload.password, candidate)
    except DjangoValidationError as error:
        raise InvalidInput(" ".join(error.messages), field="password",
                           rule="password_strength") from error
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(email=email, password=payload.password,
                                                  name=payload.name)
            setup_user_email(request, user, [])
    except IntegrityError as error:
        raise InvalidInput("an account with this email exists; sign in instead",
                           field="email", rule="unique") from error
    if allauth_settings.EMAIL_VERIFICATION != allauth_settings.EmailVerificationMethod.NONE:
        _send_confirmation(request, user, signup=True)
    if verification_mandatory():
        return Status(201, {"token": None, "user": user_out(user),
                            "email_verification": "sent"})
    return Status(201, {**_signed_in(request, user), "email_verification": "not_required"})


@router.post("/login", response=TokenOut, auth=None,
             openapi_extra={"responses": {
                 403: {"description": "the email address is not confirmed yet "
                                      "(email_unverified); a new link was sent"},
                 415: {"description": "the body is not application/json"},
                 429: {"description": "too many attempts for this account or address "
                                      "(Retry-After)"}}})
def login(request, payload: LoginIn):
    """Exchange email and password for a bearer token (and a session cookie). JSON only
    (415 otherwise). Rate-limited with the browser form's budget (allauth's ``login`` per IP,
    ``login_failed`` per IP and per account), checked before the password is hashed: a 429
    problem with ``Retry-After``. With mandatory email verification an unconfirmed address
    gets a 403 (``email_unverified``) and a fresh confirmation email, never a token."""
    email = payload.email.strip().lower()
    wait = ratelimits.allauth_consume(request, "login")
    if wait is not None:
        return too_many_requests(wait, scope="login")
    adapter = get_adapter(request)
    key = adapter._get_login_attempts_cache_key(request, email=email)
    try:
        # allauth's own authenticate: its login_failed limit first, then Django's backends.
        user = adapter.authenticate(request, email=email, password=payload.password)
    except forms.ValidationError:
        return too_many_requests(ratelimits.allauth_retry_after(request, "login_failed",
                                                                key=key), scope="login")
    if user is None or not user.is_active:
        raise InvalidInput("email or password is wrong", field="password", rule="credentials")
    if verification_mandatory() and not has_verified_email(user, user.email):
        _send_confirmation(request, user, signup=False)
        return problem(403, f"confirm {user.email} first: we have emailed you a link",
                       code="email_unverified",
                       errors=[{"field": "email", "rule": "verified",
                                "message": "follow the link in the confirmation email"}])
    return _signed_in(request, user)


@router.post("/logout", response=LogoutOut, auth=signed_in)
def logout(request, payload: LogoutIn | None = Body(None)):
    """End the session and revoke the bearer token used (if any); with ``{"all": true}``
    revoke every API token of the user (every device). ``revoked_tokens`` says how many."""
    user = request.user
    revoked = 0
    if payload is not None and payload.all:
        revoked = accounts.revoke_all_tokens(user)
    elif getattr(request, "auth_via_bearer", False):
        revoked = accounts.revoke_token(request.META["HTTP_AUTHORIZATION"].partition(" ")[2]
                                        .strip())
    django_auth.logout(request)
    return {"detail": "signed out", "revoked_tokens": revoked}


@router.get("/session", response=SessionOut, auth=None)
def session(request):
    """The signed-in user (by token or session), or ``{"user": null}``."""
    user = request.user
    return {"user": user_out(user) if user.is_authenticated else None}


__all__ = ["router", "UserOut"]
