"""A studio's cancellation and reschedule policies as core objects, and the snapshot a booking
keeps of them (issue 3, section 4: "configurable per studio, snapshotted on the booking and
evaluated at action time in the studio's zone"). The JSON shape is
``scheduling.policies.policy_to_dict``'s; a studio's empty field means the defaults."""

from __future__ import annotations

from studiobook.scheduling import policies as core_policies
from studiobook.studios.models import Service, Studio


def _load(data: dict, default):
    return core_policies.policy_from_dict(data) if data else default


def studio_policies(studio: Studio) -> tuple[core_policies.CancellationPolicy,
                                             core_policies.ReschedulePolicy]:
    """The studio's policies; an empty JSON field means Studiobook's defaults."""
    return (_load(studio.cancellation_policy, core_policies.CancellationPolicy()),
            _load(studio.reschedule_policy, core_policies.ReschedulePolicy()))


def snapshot(studio: Studio, service: Service) -> dict:
    """What a booking keeps: its policies and the terms it was sold under."""
    cancellation, reschedule = studio_policies(studio)
    return {
        "cancellation": core_policies.policy_to_dict(cancellation),
        "reschedule": core_policies.policy_to_dict(reschedule),
        "requires_approval": service.requires_approval or studio.requires_approval,
        "deposit_percent": service.deposit_percent,
        "approval_window_hours": studio.approval_window_hours,
        "balance_lead_hours": studio.balance_lead_hours,
        "time_zone": studio.time_zone,
        "summary": core_policies.describe(cancellation, reschedule, studio.time_zone,
                                          currency=studio.currency),
    }


def booking_policies(booking) -> tuple[core_policies.CancellationPolicy,
                                       core_policies.ReschedulePolicy]:
    """The policies the booking was sold under (its snapshot), else the studio's current."""
    snap = booking.policy_snapshot or {}
    if "cancellation" not in snap:
        return studio_policies(booking.studio)
    return (core_policies.policy_from_dict(snap["cancellation"]),
            core_policies.policy_from_dict(snap["reschedule"]))
