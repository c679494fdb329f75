"""What every page module shares: finding the studio, who may see a dashboard page, turning
domain errors into form errors, and wall-clock time at the edges.

Pages are thin (ARCHITECTURE.md, "web/"): they parse a form, call a service and render. A
service's ``DomainError`` becomes an error next to the field it names (``error.field``) or
above the form, and the page answers 422 (invalid input) or 409 (a conflict) with the form
as the user filled it in, so nothing they typed is lost.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.utils import timezone

from studiobook import scheduling as core
from studiobook.studios.errors import DomainError
from studiobook.studios.models import Studio
from studiobook.studios.permissions import is_admin, is_team, role_of


def get_studio_or_404(slug: str) -> Studio:
    """The studio with ``slug``; Http404 when there is none."""
    studio = Studio.objects.filter(slug=slug).first()
    if studio is None:
        raise Http404(f"no studio '{slug}'")
    return studio


def is_htmx(request: HttpRequest) -> bool:
    """True for a request made by htmx (it sends ``HX-Request: true``)."""
    return request.headers.get("HX-Request") == "true"


def _dashboard_view(view, *, admin_only: bool):
    @functools.wraps(view)
    def wrapper(request, slug: str, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        studio = get_studio_or_404(slug)
        allowed = is_admin(request.user, studio) if admin_only else is_team(request.user, studio)
        if not allowed:
            # Another studio's dashboard does not exist for you (ARCHITECTURE.md principle 8);
            # staff asking for an admin-only page get the same answer.
            raise Http404("no such page")
        request.studio = studio
        request.studio_role = role_of(request.user, studio)
        return view(request, studio, *args, **kwargs)

    return wrapper


def team_required(view):
    """For dashboard views ``view(request, studio, ...)`` routed with a ``slug``: anonymous
    users go to the sign-in page, users outside the studio's team get 404. Sets
    ``request.studio`` and ``request.studio_role`` ("admin" or "staff")."""
    return _dashboard_view(view, admin_only=False)


def admin_required(view):
    """As :func:`team_required`, for studio admins only (staff get 404)."""
    return _dashboard_view(view, admin_only=True)


def add_domain_error(form: forms.Form, error: DomainError, *,
                     field_map: dict[str, str] | None = None) -> None:
    """Show ``error`` on ``form``: next to the field it names when the form has that field
    (``field_map`` renames service field names to form field names, e.g.
    ``{"duration_min": "duration"}``), else as a non-field error above the form."""
    field = (field_map or {}).get(error.field or "", error.field)
    if field and field in form.fields:
        form.add_error(field, error.message)
    else:
        form.add_error(None, error.message)


def studio_zone(studio: Studio) -> ZoneInfo:
    """The studio's IANA zone."""
    return ZoneInfo(studio.time_zone)


def local_today(studio: Studio) -> date:
    """Today's date on the studio's clock."""
    return timezone.now().astimezone(studio_zone(studio)).date()


def local_day_bounds(studio: Studio, day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local calendar ``day`` in the studio's zone (23 or 25
    hours long across a DST change): ``scheduling.local_day_bounds``."""
    return core.local_day_bounds(studio.time_zone, day)
