"""Studio roles, checked on the server for every action (recording-studio-prd.md section 14).

Artists are any signed-in users; ``Membership`` makes a user staff or admin of one studio.
Platform superusers act as admins everywhere."""

from __future__ import annotations

from studiobook.studios.errors import Forbidden
from studiobook.studios.models import Membership, Studio

ADMIN = Membership.Role.ADMIN
STAFF = Membership.Role.STAFF


def role_of(user, studio: Studio) -> str | None:
    """``"admin"``, ``"staff"`` or None for an artist or anonymous user."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return ADMIN
    cache = getattr(user, "_studio_roles", None)
    if cache is None:
        cache = user._studio_roles = {}
    if studio.pk not in cache:
        cache[studio.pk] = (
            Membership.objects.filter(studio=studio, user=user)
            .values_list("role", flat=True)
            .first()
        )
    return cache[studio.pk]


def is_admin(user, studio: Studio) -> bool:
    return role_of(user, studio) == ADMIN


def is_team(user, studio: Studio) -> bool:
    """Admin or staff."""
    return role_of(user, studio) in (ADMIN, STAFF)


def require_admin(user, studio: Studio) -> None:
    """Raises Forbidden unless ``user`` is an admin of ``studio``."""
    if not is_admin(user, studio):
        raise Forbidden("this action needs the studio admin role")


def require_team(user, studio: Studio) -> None:
    """Raises Forbidden unless ``user`` is staff or admin of ``studio``."""
    if not is_team(user, studio):
        raise Forbidden("this action needs a staff or admin role at the studio")


def can_view_contact(user, booking) -> bool:
    """Whether ``user`` may see the contact details (email address, phone number) of
    ``booking``'s artist: the artist themself, an admin of the booking's studio (platform
    superusers included), or an engineer assigned to that booking. Other staff of the studio
    see the artist's name only (recording-studio-prd.md section 14: least privilege).

    Uses ``booking.assignments`` with their ``staff`` (prefetch ``assignments__staff`` when
    asking for many bookings)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if booking.user_id == user.id:
        return True
    # role_of needs the studio's key only: no query for booking.studio per row of a list.
    role = role_of(user, Studio(pk=booking.studio_id))
    if role == ADMIN:
        return True
    if role != STAFF:
        return False
    return any(assignment.staff.user_id == user.id for assignment in booking.assignments.all())
