"""POST /api/auth/register, /login, /logout; GET /api/auth/session."""

from __future__ import annotations

from django.contrib import auth as django_auth
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from ninja import Router, Status

from studiobook.accounts.models import ApiToken
from studiobook.api.auth import signed_in
from studiobook.api.schemas import LoginIn, Message, RegisterIn, SessionOut, TokenOut, UserOut
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import Membership

router = Router(tags=["auth"])


def user_out(user) -> dict:
    memberships = Membership.objects.filter(user=user).select_related("studio")
    return {"id": user.id, "email": user.email, "name": user.name,
            "memberships": [{"studio": m.studio.slug, "role": m.role} for m in memberships]}


def _signed_in(request, user) -> dict:
    django_auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return {"token": ApiToken.issue(user), "user": user_out(user)}


@router.post("/register", response={201: TokenOut}, auth=None)
def register(request, payload: RegisterIn):
    """Create an artist account; returns a bearer token and signs the session in."""
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
    except IntegrityError as error:
        raise InvalidInput("an account with this email exists; sign in instead",
                           field="email", rule="unique") from error
    return Status(201, _signed_in(request, user))


@router.post("/login", response=TokenOut, auth=None)
def login(request, payload: LoginIn):
    """Exchange email and password for a bearer token (and a session cookie)."""
    user = django_auth.authenticate(request, username=payload.email.strip().lower(),
                                    password=payload.password)
    if user is None:
        raise InvalidInput("email or password is wrong", field="password", rule="credentials")
    return _signed_in(request, user)


@router.post("/logout", response=Message, auth=signed_in)
def logout(request):
    """Revoke the bearer token used (if any) and end the session."""
    if getattr(request, "auth_via_bearer", False):
        token = request.META["HTTP_AUTHORIZATION"].partition(" ")[2].strip()
        ApiToken.objects.filter(digest=ApiToken.digest_of(token)).delete()
    django_auth.logout(request)
    return {"detail": "signed out"}


@router.get("/session", response=SessionOut, auth=None)
def session(request):
    """The signed-in user (by token or session), or ``{"user": null}``."""
    user = request.user
    return {"user": user_out(user) if user.is_authenticated else None}


__all__ = ["router", "UserOut"]
