"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings

from studiobook.studios.models import Membership


def site(request) -> dict:
    """``team_studios``: the studios whose dashboard the signed-in user may open (a list of
    ``Studio``, evaluated lazily, one query); ``stripe_publishable_key``: set when card
    payments go through Stripe."""
    user = getattr(request, "user", None)

    def team_studios():
        if user is None or not user.is_authenticated:
            return []
        return [m.studio for m in Membership.objects.filter(user=user).select_related("studio")
                .order_by("studio__name")]

    return {
        "team_studios": team_studios,
        "stripe_publishable_key": getattr(settings, "STRIPE_PUBLISHABLE_KEY", ""),
    }
