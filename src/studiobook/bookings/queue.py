"""The approval queue and what the studio dashboard warns about.

- ``approval_queue``: bookings ``awaiting_approval``, newest first, each with its payment
  state and the deadline of its card authorization (recording-studio-prd.md section 16,
  "Approval queue tab showing awaiting_approval newest first"; issue 3: flag the
  authorizations that will lapse).
- ``decide_booking`` / ``decide_bookings``: approve or reject one booking, or many at once
  with one internal note and one message to the artist. Each booking goes through
  ``services.approve_booking`` / ``services.reject_booking`` in its own transaction, so one
  booking that cannot move (approved meanwhile in another tab) does not stop the others;
  the outcome of each is returned.
- ``calendar_sync_warnings``: failed pushes to engineers' calendars (``CalendarSync``) and
  failing external busy calendars, for the calendar board (recording-studio-prd.md 12,
  "surface failures in Admin UI").

Where the two texts of a decision go (read from ``services`` and ``notify.handlers``):

- approve: the internal note is ``approve_booking(note=...)``, kept on
  ``Booking.approval_note``; the approval email carries no message, so a message to the
  artist is refused (``InvalidInput`` on ``message_to_artist``) rather than silently dropped.
- reject: the message to the artist is ``reject_booking(reason=...)``: it is
  ``Booking.status_reason``, the audit row's ``diff["reason"]`` and the "Reason:" line of the
  rejection email. ``reject_booking`` has no internal note, so a non-empty one is written
  as its own audit row (``action="booking.note"``, ``diff={"note": ..., "decision":
  "reject"}``) right after the rejection commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from studiobook.bookings import services
from studiobook.bookings.models import Booking
from studiobook.studios import audit
from studiobook.studios.errors import DomainError, InvalidInput, NotFound
from studiobook.studios.models import Studio
from studiobook.studios.permissions import require_admin, require_team

APPROVE, REJECT = "approve", "reject"
DECISIONS = (APPROVE, REJECT)
MAX_TEXT = 2000  # as the API's ApproveIn.message and ReasonIn.reason


@dataclass(frozen=True)
class QueueRow:
    """One booking awaiting approval. ``authorization_expires_at`` is the earliest
    ``capture_before`` (UTC) of its card authorizations (None without one);
    ``is_authorization_at_risk`` is true when that lapses within
    ``payments.services.CAPTURE_RISK`` (or already has): approving after it means the card
    can no longer be captured and the artist has to pay again."""

    booking: Booking
    payment_state: str
    authorization_expires_at: datetime | None
    is_authorization_at_risk: bool
    has_authorization_lapsed: bool


def approval_queue(*, actor, studio: Studio, now: datetime | None = None) -> list[QueueRow]:
    """The studio's bookings awaiting approval, newest first (``created_at``, then id), with
    artist, service, room, engineers and payments loaded in a fixed number of queries.
    Staff and admins. Raises Forbidden."""
    from studiobook.payments.services import capture_deadline, payment_state

    require_team(actor, studio)
    now = now or timezone.now()
    bookings = (Booking.objects.filter(studio=studio, status=Booking.Status.AWAITING_APPROVAL)
                .select_related("user", "service", "room")
                .prefetch_related("payments", "assignments__staff")
                .order_by("-created_at", "-id"))
    rows = []
    for booking in bookings:
        payments = list(booking.payments.all())
        deadline = capture_deadline(booking, payments, now=now)
        rows.append(QueueRow(booking=booking, payment_state=payment_state(booking, payments),
                             authorization_expires_at=deadline.deadline,
                             is_authorization_at_risk=deadline.is_at_risk,
                             has_authorization_lapsed=deadline.has_lapsed))
    return rows


@dataclass(frozen=True)
class DecisionResult:
    """What happened to one booking of a decision: ``is_done`` with its new ``status``, or
    not, with ``message`` saying why (the domain error's message)."""

    code: str
    decision: str
    is_done: bool
    status: str = ""
    message: str = ""


def _check_texts(decision: str, internal_note: str, message_to_artist: str) -> None:
    if decision not in DECISIONS:
        raise InvalidInput("choose approve or reject", field="decision", rule="choice")
    for name, text in (("internal_note", internal_note),
                       ("message_to_artist", message_to_artist)):
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"at most {MAX_TEXT} characters", field=name, rule="max_length")
    if decision == APPROVE and message_to_artist.strip():
        raise InvalidInput(
            "the approval email carries no message: clear this field to approve, or reject "
            "to send it", field="message_to_artist", rule="reject_only")


def decide_booking(*, actor, booking: Booking, decision: str, internal_note: str = "",
                   message_to_artist: str = "", now: datetime | None = None) -> Booking:
    """Approve or reject ``booking`` (admins), placing the texts as the module docstring
    says. Raises Forbidden, InvalidInput (texts), IllegalTransition (not awaiting approval);
    nothing is written when it raises."""
    require_admin(actor, booking.studio)
    _check_texts(decision, internal_note, message_to_artist)
    now = now or timezone.now()
    if decision == APPROVE:
        return services.approve_booking(actor=actor, booking=booking,
                                        note=internal_note.strip(), now=now)
    booking = services.reject_booking(actor=actor, booking=booking,
                                      reason=message_to_artist.strip(), now=now)
    if internal_note.strip():
        with transaction.atomic(durable=True):
            audit.record(studio=booking.studio, actor=actor, action="booking.note",
                         entity="booking", entity_id=booking.code,
                         diff={"note": internal_note.strip(), "decision": REJECT})
    return booking


def decide_bookings(*, actor, studio: Studio, codes: Iterable[str], decision: str,
                    internal_note: str = "", message_to_artist: str = "",
                    now: datetime | None = None) -> list[DecisionResult]:
    """Approve or reject each booking of ``codes`` (in the order given, duplicates once) at
    ``studio``, each in its own transaction, and report each outcome. A code that is not a
    booking of this studio is reported "not found" (never another studio's booking).
    Raises, before touching any booking: Forbidden (not an admin), InvalidInput (no code,
    bad texts)."""
    require_admin(actor, studio)
    codes = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if not codes:
        raise InvalidInput("select at least one booking", field="codes", rule="required")
    _check_texts(decision, internal_note, message_to_artist)
    now = now or timezone.now()
    found = {b.code: b for b in Booking.objects.filter(studio=studio, code__in=codes)
             .select_related("studio")}
    results = []
    for code in codes:
        booking = found.get(code)
        try:
            if booking is None:
                raise NotFound(f"booking {code} not found at this studio")
            booking = decide_booking(actor=actor, booking=booking, decision=decision,
                                     internal_note=internal_note,
                                     message_to_artist=message_to_artist, now=now)
        except DomainError as error:
            results.append(DecisionResult(code, decision, False, message=error.message))
        else:
            results.append(DecisionResult(code, decision, True, status=booking.status))
    return results


@dataclass
class SyncWarnings:
    """Calendar-sync problems of a studio: ``failed_syncs`` maps a booking id to its
    ``CalendarSync`` rows in status ``failed`` (with ``staff`` and ``booking`` loaded);
    ``failing_calendars`` are its active external calendars whose last refresh failed
    (they keep blocking with their last good copy)."""

    failed_syncs: dict[int, list] = field(default_factory=dict)
    failing_calendars: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.failed_syncs or self.failing_calendars)

    def failing_lanes(self, group_by: str) -> set[int]:
        """Ids of the rooms (``"room"``) or engineers (``"staff"``) with a failing
        external calendar."""
        return {c.room_id if group_by == "room" else c.staff_id
                for c in self.failing_calendars
                if (c.room_id if group_by == "room" else c.staff_id) is not None}


def calendar_sync_warnings(*, studio: Studio, ending_after: datetime) -> SyncWarnings:
    """Failed calendar pushes of every booking of the studio ending after ``ending_after``
    (UTC; the ones that still matter), and the studio's failing external calendars. Two
    queries; nothing is written."""
    from studiobook.calendars.models import CalendarSync, ExternalCalendar

    failed: dict[int, list] = {}
    for row in (CalendarSync.objects.filter(booking__studio=studio,
                                            booking__end_at__gt=ending_after,
                                            status=CalendarSync.Status.FAILED)
                .select_related("booking", "staff").order_by("booking__start_at", "id")):
        failed.setdefault(row.booking_id, []).append(row)
    calendars = list(ExternalCalendar.objects.for_studio(studio)
                     .filter(is_active=True, status=ExternalCalendar.Status.FAILING)
                     .select_related("room", "staff"))
    return SyncWarnings(failed_syncs=failed, failing_calendars=calendars)
