"""Cancellation and reschedule policies, and approval-aware payment timing
(pure, Django-free).

Sources: recording-studio-prd.md 7.9 ("Cancellation Policy: e.g., >48h full
refund; 24-48h 50%; <24h no refund.  Policy stored centrally and evaluated at
action time"), 7.10 ("Reschedule Policy: allow once for free >24h; otherwise
fee"), 7.6 / 7.8 / 11 (deposits, manual capture on approval, "remaining
auto-capture X hours before start"); onetime-studios-readme.md "Payment Safety"
/ "Data Integrity" (manual capture; "Cancellation policy snapshot at booking
time"); issue: "configurable per studio, snapshotted on the booking and
evaluated at action time in the studio's zone", and section 3 (card holds).

Conventions: instants are aware datetimes (any zone accepted, results are
UTC); ``zone`` is the studio's IANA name; money is int minor units; percentages
int 0..100; hours int.  Nothing here reads the clock: ``now`` is passed in.

Deadlines ("N h before the start") are WALL-CLOCK hours in the studio's zone
-- see :func:`tier_deadline` -- because that is what the studio and the artist
read on their clocks: "48 h before a Monday 10:00 session" is "Saturday 10:00",
even when a DST change in between makes that 47 or 49 real hours.

Errors: :class:`InvalidPolicy` (``code = "invalid_policy"``) for a malformed
policy or policy input, message starting with the field (``"tiers[1].
refund_percent: must be an int 0..100, got 150"``); :class:`InvalidQuery` for a
naive datetime or an unknown zone (as elsewhere in the package);
:class:`InvalidMoney` for malformed amounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from ._time import from_ticks, get_zone, resolve_local, to_ticks
from .errors import SchedulingError
from .money import InvalidMoney, _is_int, _require_int, format_money, percent_of

__all__ = [
    "CancellationOutcome",
    "CancellationPolicy",
    "CapturePlan",
    "InvalidPolicy",
    "RefundTier",
    "RescheduleOutcome",
    "ReschedulePolicy",
    "cancellation_outcome",
    "capture_plan",
    "describe",
    "describe_reschedule_fee",
    "policy_from_dict",
    "policy_to_dict",
    "reschedule_outcome",
    "tier_deadline",
]

#: Largest accepted "hours before the start" (one leap year); keeps deadlines far
#: from datetime's range limits and catches minutes typed into an hours field.
MAX_HOURS = 366 * 24

SNAPSHOT_VERSION = 1


class InvalidPolicy(SchedulingError):
    """A policy (or a policy input such as ``reschedules_done``) is malformed;
    the message starts with the field, e.g. ``"tiers[1].refund_percent: must be
    an int 0..100, got 150"``."""

    code = "invalid_policy"


def _check_int(field: str, value: object, low: int, high: int | None = None) -> None:
    if _is_int(value) and value >= low and (high is None or value <= high):  # type: ignore[operator]
        return
    rule = f"an int {low}..{high}" if high is not None else f"an int >= {low}"
    raise InvalidPolicy(f"{field}: must be {rule}, got {value!r}")


def _check_money(field: str, value: object) -> None:
    _require_int(field, value, what=" (minor units)")


def _utc(value: object, field: str) -> datetime:
    return from_ticks(to_ticks(value, field))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True, slots=True)
class RefundTier:
    """Cancelling at or before the wall-clock deadline ``min_hours_before`` hours
    before the start refunds ``refund_percent`` % of what was paid.

    ``min_hours_before``: int 0..:data:`MAX_HOURS`; ``refund_percent``: int 0..100.
    Raises :class:`InvalidPolicy` naming the field.
    """

    min_hours_before: int
    refund_percent: int

    def __post_init__(self) -> None:
        _check_int("min_hours_before", self.min_hours_before, 0, MAX_HOURS)
        _check_int("refund_percent", self.refund_percent, 0, 100)


@dataclass(frozen=True, slots=True)
class CancellationPolicy:
    """A studio's refund schedule; snapshot it on the booking (:func:`policy_to_dict`).

    ``tiers``: at least one :class:`RefundTier`, ``min_hours_before`` strictly
    decreasing and ``refund_percent`` non-increasing (cancelling later never
    refunds more).  A list is accepted and stored as a tuple.  The default is
    PRD 7.9: >= 48 h full refund, >= 24 h 50 %, later nothing.

    Semantics (see :func:`cancellation_outcome`): the first tier, from the
    largest N down, whose deadline is at or after ``now`` applies.  After the
    last tier's deadline nothing is refunded -- so a policy whose last tier is
    ``RefundTier(24, 50)`` refunds nothing in the last 24 h; use a final
    ``RefundTier(0, p)`` to refund ``p`` % right up to the start.  At or after
    the start nothing is refunded (no-show), whatever the tiers.

    Raises :class:`InvalidPolicy`, e.g. ``"tiers[1].min_hours_before: must be
    less than tiers[0].min_hours_before (48), got 48"``.
    """

    tiers: tuple[RefundTier, ...] = (RefundTier(48, 100), RefundTier(24, 50), RefundTier(0, 0))

    def __post_init__(self) -> None:
        tiers = self.tiers
        if isinstance(tiers, (str, bytes, Mapping)) or not isinstance(tiers, Sequence):
            raise InvalidPolicy(f"tiers: must be a sequence of RefundTier, got {tiers!r}")
        tiers = tuple(tiers)
        if not tiers:
            raise InvalidPolicy(
                "tiers: must have at least one tier (RefundTier(0, 0) means never refund)"
            )
        for index, tier in enumerate(tiers):
            if not isinstance(tier, RefundTier):
                raise InvalidPolicy(f"tiers[{index}]: must be a RefundTier, got {tier!r}")
            if index:
                prev = tiers[index - 1]
                if tier.min_hours_before >= prev.min_hours_before:
                    raise InvalidPolicy(
                        f"tiers[{index}].min_hours_before: must be less than "
                        f"tiers[{index - 1}].min_hours_before ({prev.min_hours_before}), "
                        f"got {tier.min_hours_before}"
                    )
                if tier.refund_percent > prev.refund_percent:
                    raise InvalidPolicy(
                        f"tiers[{index}].refund_percent: must not exceed "
                        f"tiers[{index - 1}].refund_percent ({prev.refund_percent}), "
                        f"got {tier.refund_percent}"
                    )
        object.__setattr__(self, "tiers", tiers)


@dataclass(frozen=True, slots=True)
class ReschedulePolicy:
    """A studio's reschedule rules; snapshot it on the booking.

    ``free_reschedules``: how many reschedules are free (int >= 0); a
    reschedule is free only while fewer than that many were done AND it is at
    or before the wall-clock deadline ``free_min_hours_before`` hours before the
    (current) start.  Otherwise it costs ``fee_minor + percent_of(total,
    fee_percent)`` (``fee_minor``: int minor units of the booking's currency,
    ``fee_percent``: int 0..100 of the booking total).  No reschedule at or
    after the start.  Default: PRD 7.10, one free reschedule up to 24 h before
    (the fee amount itself is the studio's to configure).

    Raises :class:`InvalidPolicy` naming the field.
    """

    free_reschedules: int = 1
    free_min_hours_before: int = 24
    fee_percent: int = 0
    fee_minor: int = 0

    def __post_init__(self) -> None:
        _check_int("free_reschedules", self.free_reschedules, 0, 1000)
        _check_int("free_min_hours_before", self.free_min_hours_before, 0, MAX_HOURS)
        _check_int("fee_percent", self.fee_percent, 0, 100)
        _check_int("fee_minor", self.fee_minor, 0)


# --------------------------------------------------------------------------- deadlines


def _deadline(start_utc: datetime, hours: int, tz: tzinfo) -> datetime:
    if hours == 0:
        return start_utc
    wall = start_utc.astimezone(tz).replace(tzinfo=None) - timedelta(hours=hours)
    return from_ticks(resolve_local(tz, wall, False))


def tier_deadline(start_at: datetime, hours: int, zone: str) -> datetime:
    """The UTC instant "``hours`` hours before ``start_at``" on the studio's wall clock.

    Take the start's local wall-clock reading in ``zone``, subtract ``hours``
    as naive wall-clock arithmetic, and convert back to UTC with the package
    DST policy for a start: a nonexistent local time (spring-forward gap) means
    the first instant after the gap; an ambiguous one (fall back) means the
    EARLIER instant, so the deadline is never later than the wall clock says.
    Equivalently: the first instant at which the local clock reads at least the
    target time.  ``hours == 0`` is the start itself.

    Example (America/Toronto): start Mon 2026-03-09 10:00 EDT (14:00 UTC),
    48 h -> Sat 2026-03-07 10:00 EST = 15:00 UTC, 47 real hours earlier.

    ``start_at``: aware datetime; ``hours``: int 0..:data:`MAX_HOURS`.
    Raises :class:`InvalidQuery` for a naive ``start_at`` or an unknown zone,
    :class:`InvalidPolicy` for bad ``hours``.
    """
    _check_int("hours", hours, 0, MAX_HOURS)
    return _deadline(_utc(start_at, "start_at"), hours, get_zone(zone))


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _local_label(instant: datetime, tz: tzinfo) -> str:
    """Locale-independent ``"Sat 2026-03-07 10:00 EST"``."""
    local = instant.astimezone(tz)
    return f"{_DAYS[local.weekday()]} {local:%Y-%m-%d %H:%M} {local.tzname()}"


# --------------------------------------------------------------------------- cancellation


@dataclass(frozen=True, slots=True)
class CancellationOutcome:
    """What cancelling at ``now`` means under a policy.

    ``refund_percent``: int 0..100; ``refund_minor``: ``percent_of(paid_minor,
    refund_percent)``, int minor units.  ``tier``: the tier that applies, or
    ``None`` (after the last tier's deadline, or at/after the start).
    ``deadline``: UTC instant until which (inclusive) cancelling still refunds
    ``refund_percent`` -- the applying tier's deadline, or a later tier's when
    consecutive tiers share the percentage; a 0-hour tier's deadline IS the
    start, which is itself excluded (no-show).  ``None`` when nothing is
    refunded.  ``next_refund_percent``: the refund just after ``deadline`` (0
    when ``deadline`` is ``None``).  ``summary``: one human sentence, local times
    in the studio's zone, no amounts (format ``refund_minor`` yourself).
    """

    refund_percent: int
    refund_minor: int
    deadline: datetime | None
    tier: RefundTier | None
    next_refund_percent: int
    summary: str


def cancellation_outcome(
    policy: CancellationPolicy,
    *,
    start_at: datetime,
    now: datetime,
    zone: str,
    paid_minor: int,
) -> CancellationOutcome:
    """Refund for an artist cancelling at ``now`` (evaluate at action time with
    the policy snapshotted on the booking).

    Rules (PRD 7.9, issue; decisions documented here):

    * each tier's deadline is :func:`tier_deadline` ``(start_at,
      tier.min_hours_before, zone)`` -- wall-clock hours in the studio zone;
    * tiers are checked from the largest ``min_hours_before`` down; the first
      whose deadline is ``>= now`` applies (inclusive: exactly 48 h before gets
      the 48-h tier);
    * at or after ``start_at`` nothing is refunded (a no-show); so a 0-hour
      tier applies up to, not including, the start;
    * after the last tier's deadline nothing is refunded;
    * ``refund_minor = percent_of(paid_minor, refund_percent)`` (half-even).

    ``start_at`` / ``now``: aware datetimes; ``zone``: IANA name;
    ``paid_minor``: int >= 0, what was actually charged (deposit or total).
    Raises :class:`InvalidPolicy` (not a CancellationPolicy),
    :class:`InvalidQuery` (naive datetime, unknown zone), :class:`InvalidMoney`.
    """
    if not isinstance(policy, CancellationPolicy):
        raise InvalidPolicy(f"policy: must be a CancellationPolicy, got {policy!r}")
    start = _utc(start_at, "start_at")
    current = _utc(now, "now")
    tz = get_zone(zone)
    _check_money("paid_minor", paid_minor)

    if current >= start:
        return CancellationOutcome(
            0, 0, None, None, 0,
            f"The session started at {_local_label(start, tz)}: cancelling now refunds "
            "nothing (no-show).",
        )
    tiers = policy.tiers
    for index, tier in enumerate(tiers):
        if current > _deadline(start, tier.min_hours_before, tz):
            continue
        percent = tier.refund_percent
        if percent == 0:
            return CancellationOutcome(0, 0, None, tier, 0, _no_refund(policy, start, tz))
        # The same percentage may continue in the following tiers: report when it ends.
        last = index
        while last + 1 < len(tiers) and tiers[last + 1].refund_percent == percent:
            last += 1
        hours = tiers[last].min_hours_before
        deadline = _deadline(start, hours, tz)
        following = tiers[last + 1].refund_percent if last + 1 < len(tiers) else 0
        if hours == 0:
            until = f"up to the start ({_local_label(start, tz)})"
        else:
            until = f"until {_local_label(deadline, tz)} ({hours} h before the start)"
        return CancellationOutcome(
            percent,
            percent_of(paid_minor, percent),
            deadline,
            tier,
            following,
            f"Cancelling now refunds {_refund_phrase(percent)}; this applies {until}, "
            f"then {_refund_phrase(following)}.",
        )
    return CancellationOutcome(0, 0, None, None, 0, _no_refund(policy, start, tz))


def _no_refund(policy: CancellationPolicy, start: datetime, tz: tzinfo) -> str:
    paying = [t for t in policy.tiers if t.refund_percent > 0]
    if not paying:
        return "Cancelling refunds nothing under this studio's policy."
    last = paying[-1]
    when = (f"{_local_label(_deadline(start, last.min_hours_before, tz), tz)}, "
            f"{last.min_hours_before} h before the start")
    return f"Cancelling now refunds nothing: the last refund deadline ({when}) has passed."


def _refund_phrase(percent: int) -> str:
    if percent == 100:
        return "the full amount paid"
    if percent == 0:
        return "nothing"
    return f"{percent}% of the amount paid"


# --------------------------------------------------------------------------- reschedule


@dataclass(frozen=True, slots=True)
class RescheduleOutcome:
    """What rescheduling at ``now`` means under a policy.

    ``is_allowed``: False at or after the start.  ``is_free``: no fee is due
    because a free reschedule applies.  ``fee_minor``: int minor units to
    charge (0 when free or not allowed; may also be 0 when not free if the
    studio configured no fee).  ``summary``: one human sentence, no amounts.
    """

    is_allowed: bool
    is_free: bool
    fee_minor: int
    summary: str


def reschedule_outcome(
    policy: ReschedulePolicy,
    *,
    start_at: datetime,
    now: datetime,
    zone: str,
    reschedules_done: int,
    total_minor: int,
) -> RescheduleOutcome:
    """Whether, and at what fee, the booking starting at ``start_at`` may be
    moved at ``now`` (PRD 7.10; evaluate with the snapshotted policy).

    * at or after ``start_at``: not allowed;
    * free while ``reschedules_done < policy.free_reschedules`` and ``now <=
      tier_deadline(start_at, policy.free_min_hours_before, zone)`` (inclusive,
      wall-clock hours in the studio zone);
    * otherwise allowed with ``fee_minor = policy.fee_minor +
      percent_of(total_minor, policy.fee_percent)``.

    ``start_at``: the booking's CURRENT start; ``reschedules_done``: int >= 0
    reschedules already made; ``total_minor``: int >= 0, the booking total the
    percentage fee is taken from.  Raises :class:`InvalidPolicy`,
    :class:`InvalidQuery` (naive datetime, unknown zone), :class:`InvalidMoney`.
    """
    if not isinstance(policy, ReschedulePolicy):
        raise InvalidPolicy(f"policy: must be a ReschedulePolicy, got {policy!r}")
    start = _utc(start_at, "start_at")
    current = _utc(now, "now")
    tz = get_zone(zone)
    _check_int("reschedules_done", reschedules_done, 0)
    _check_money("total_minor", total_minor)

    if current >= start:
        return RescheduleOutcome(
            False, False, 0,
            f"The session started at {_local_label(start, tz)}: it can no longer be rescheduled.",
        )
    deadline = _deadline(start, policy.free_min_hours_before, tz)
    has_free = reschedules_done < policy.free_reschedules
    if has_free and current <= deadline:
        left = policy.free_reschedules - reschedules_done
        return RescheduleOutcome(
            True, True, 0,
            f"Rescheduling now is free ({left} free reschedule{'s' if left != 1 else ''} "
            f"left, usable until {_local_label(deadline, tz)}).",
        )
    fee = policy.fee_minor + percent_of(total_minor, policy.fee_percent)
    if not has_free:
        reason = ("the booking has no free reschedules" if policy.free_reschedules == 0
                  else "the free reschedules have been used")
    else:
        reason = f"free reschedules end at {_local_label(deadline, tz)}"
    cost = "costs the reschedule fee" if fee else "has no fee"
    return RescheduleOutcome(True, False, fee, f"Rescheduling now {cost}: {reason}.")


# --------------------------------------------------------------------------- snapshots


def policy_to_dict(policy: CancellationPolicy | ReschedulePolicy) -> dict[str, Any]:
    """JSON-ready snapshot of a policy, to store on a booking.

    Shapes (ints only; ``version`` is the snapshot format)::

        {"kind": "cancellation", "version": 1,
         "tiers": [{"min_hours_before": 48, "refund_percent": 100}, ...]}
        {"kind": "reschedule", "version": 1, "free_reschedules": 1,
         "free_min_hours_before": 24, "fee_percent": 0, "fee_minor": 0}

    ``fee_minor`` is in the booking's currency (not stored here).
    ``policy_from_dict(policy_to_dict(p)) == p``.  Raises :class:`InvalidPolicy`
    for anything else.
    """
    if isinstance(policy, CancellationPolicy):
        return {
            "kind": "cancellation",
            "version": SNAPSHOT_VERSION,
            "tiers": [
                {"min_hours_before": t.min_hours_before, "refund_percent": t.refund_percent}
                for t in policy.tiers
            ],
        }
    if isinstance(policy, ReschedulePolicy):
        return {
            "kind": "reschedule",
            "version": SNAPSHOT_VERSION,
            "free_reschedules": policy.free_reschedules,
            "free_min_hours_before": policy.free_min_hours_before,
            "fee_percent": policy.fee_percent,
            "fee_minor": policy.fee_minor,
        }
    raise InvalidPolicy(f"policy: must be a CancellationPolicy or ReschedulePolicy, got {policy!r}")


_TIER_KEYS = frozenset({"min_hours_before", "refund_percent"})
_RESCHEDULE_KEYS = ("free_reschedules", "free_min_hours_before", "fee_percent", "fee_minor")


def _check_keys(field: str, data: Mapping[str, Any], expected: frozenset[str]) -> None:
    missing = sorted(expected - data.keys())
    unknown = sorted(str(k) for k in data.keys() - expected)
    if missing:
        raise InvalidPolicy(f"{field}{missing[0]}: missing")
    if unknown:
        raise InvalidPolicy(f"{field}{unknown[0]}: unknown field")


def policy_from_dict(data: Mapping[str, Any]) -> CancellationPolicy | ReschedulePolicy:
    """Rebuild a policy from :func:`policy_to_dict`'s shape (e.g. a booking's
    JSON snapshot), validating everything: exact keys (missing or unknown keys
    are errors), ``kind``, ``version``, int (not bool, not float) values and the
    policy rules.  Raises :class:`InvalidPolicy` naming the field, e.g.
    ``"tiers[1].refund_percent: must be an int 0..100, got 150"``.
    """
    if not isinstance(data, Mapping):
        raise InvalidPolicy(f"snapshot: must be a mapping, got {data!r}")
    kind = data.get("kind")
    if kind == "cancellation":
        _check_keys("", data, frozenset({"kind", "version", "tiers"}))
    elif kind == "reschedule":
        _check_keys("", data, frozenset({"kind", "version", *_RESCHEDULE_KEYS}))
    else:
        raise InvalidPolicy(f"kind: must be 'cancellation' or 'reschedule', got {kind!r}")
    if data["version"] != SNAPSHOT_VERSION or not _is_int(data["version"]):
        raise InvalidPolicy(f"version: must be {SNAPSHOT_VERSION}, got {data['version']!r}")

    if kind == "reschedule":
        return ReschedulePolicy(**{key: data[key] for key in _RESCHEDULE_KEYS})

    raw_tiers = data["tiers"]
    if not isinstance(raw_tiers, list | tuple):
        raise InvalidPolicy(f"tiers: must be a list, got {raw_tiers!r}")
    tiers = []
    for index, raw in enumerate(raw_tiers):
        field = f"tiers[{index}]"
        if not isinstance(raw, Mapping):
            raise InvalidPolicy(f"{field}: must be a mapping, got {raw!r}")
        _check_keys(f"{field}.", raw, _TIER_KEYS)
        try:
            tiers.append(RefundTier(raw["min_hours_before"], raw["refund_percent"]))
        except InvalidPolicy as exc:
            raise InvalidPolicy(f"{field}.{exc}") from None
    return CancellationPolicy(tuple(tiers))


# --------------------------------------------------------------------------- description

_COUNTS = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five"}


def _hours_phrase(hours: int) -> str:
    return f"at least {hours} h before the start" if hours else "before the start"


def _describe_cancellation(policy: CancellationPolicy) -> str:
    # A tier with the same percentage as the next one changes nothing: the next
    # tier covers every instant up to its own, later, deadline.
    given = policy.tiers
    tiers = [t for i, t in enumerate(given)
             if i + 1 == len(given) or t.refund_percent != given[i + 1].refund_percent]
    trailing_zero = tiers[-1].refund_percent == 0
    if trailing_zero:
        tiers = tiers[:-1]
    if not tiers:
        return "No refund if you cancel."
    clauses = []
    for index, tier in enumerate(tiers):
        pct = tier.refund_percent
        if index == 0:
            what = "Full refund" if pct == 100 else f"{pct}% refund"
            clauses.append(f"{what} if you cancel {_hours_phrase(tier.min_hours_before)}")
        else:
            what = "full refund" if pct == 100 else f"{pct}%"
            when = f"at least {tier.min_hours_before} h before" if tier.min_hours_before \
                else "up to the start"
            clauses.append(f"{what} {when}")
    if trailing_zero or tiers[-1].min_hours_before:
        clauses.append("no refund after that")
    else:
        clauses.append("no refund once the session has started")
    return "; ".join(clauses) + "."


def describe_reschedule_fee(policy: ReschedulePolicy, currency: str | None) -> str:
    """The fee of a paid reschedule in words ("CAD 25.00 plus 10% of the booking total"),
    "" when rescheduling is free. Raises :class:`InvalidPolicy` when a fixed fee needs a
    ``currency`` and none is given."""
    if policy.fee_minor and currency is None:
        raise InvalidPolicy("currency: needed to describe a fixed reschedule fee (fee_minor)")
    parts = []
    if policy.fee_minor:
        parts.append(format_money(policy.fee_minor, currency))  # type: ignore[arg-type]
    if policy.fee_percent:
        parts.append(f"{policy.fee_percent}% of the booking total")
    return " plus ".join(parts)


def _describe_reschedule(policy: ReschedulePolicy, currency: str | None) -> str:
    fee = describe_reschedule_fee(policy, currency)
    if not fee:
        return "You can reschedule free of charge any time before the start."
    count = policy.free_reschedules
    if count == 0:
        return f"Each reschedule costs {fee}; no reschedule once the session has started."
    many = _COUNTS.get(count, str(count))
    return (f"{many} free reschedule{'s' if count != 1 else ''} if you ask "
            f"{_hours_phrase(policy.free_min_hours_before)}; otherwise each reschedule "
            f"costs {fee}.")


def describe(
    cancellation: CancellationPolicy,
    reschedule: ReschedulePolicy,
    zone: str,
    *,
    currency: str | None = None,
) -> str:
    """Human summary of a studio's policies: one sentence for cancellation, one
    for rescheduling, one saying the hours are counted on the studio's clock.

    Example (defaults, ``"America/Toronto"``): ``"Full refund if you cancel at
    least 48 h before the start; 50% at least 24 h before; no refund after that.
    One free reschedule if you ask at least 24 h before the start; ... Hours are
    counted on the studio's local clock (America/Toronto)."``  (With the
    default fee of 0: "You can reschedule free of charge any time before the
    start.")

    ``currency``: ISO code, required only to print a fixed ``fee_minor``.
    Raises :class:`InvalidPolicy` for wrong types or a fixed fee without
    ``currency``; :class:`InvalidQuery` for an unknown zone.
    """
    if not isinstance(cancellation, CancellationPolicy):
        raise InvalidPolicy(f"cancellation: must be a CancellationPolicy, got {cancellation!r}")
    if not isinstance(reschedule, ReschedulePolicy):
        raise InvalidPolicy(f"reschedule: must be a ReschedulePolicy, got {reschedule!r}")
    get_zone(zone)
    return " ".join((
        _describe_cancellation(cancellation),
        _describe_reschedule(reschedule, currency),
        f"Hours are counted on the studio's local clock ({zone}).",
    ))


# --------------------------------------------------------------------------- capture plan


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """How and when to take the money for a new booking (see :func:`capture_plan`).

    ``mode``:
      * ``"automatic"``: PaymentIntent with automatic capture for ``amount_now_minor``;
      * ``"manual"``: PaymentIntent with ``capture_method="manual"`` for
        ``amount_now_minor``: authorize now, capture on approval, at the latest
        by ``capture_by``; cancel the PaymentIntent on rejection;
      * ``"setup"``: SetupIntent now (no charge, ``amount_now_minor == 0``); on
        approval charge the due-now amount off-session with the saved card;
      * ``"none"``: the total is 0, no payment step at all.
    ``amount_now_minor``: int minor units charged/authorized now (0 for setup/none).
    ``balance_minor``: int minor units charged off-session later, at
    ``balance_due_at`` (UTC, ``start - balance_lead_hours`` real hours; ``None``
    when the balance is 0) -- and never before the booking is approved.
    ``amount_on_approval_minor``: int minor units captured (``"manual"``) or
    charged off-session (``"setup"``) when the studio approves; 0 otherwise.
    ``capture_by``: UTC, for ``"manual"`` only: ``now + authorization window -
    safety margin``; ``None`` otherwise.
    ``save_payment_method``: pass ``setup_future_usage="off_session"`` (with the
    customer's consent) because something will be charged later.
    """

    mode: Literal["automatic", "manual", "setup", "none"]
    amount_now_minor: int
    balance_minor: int
    balance_due_at: datetime | None
    capture_by: datetime | None
    save_payment_method: bool
    amount_on_approval_minor: int = 0


def capture_plan(
    *,
    requires_approval: bool,
    now: datetime,
    start_at: datetime,
    total_minor: int,
    deposit_minor: int,
    approval_window_hours: int,
    balance_lead_hours: int,
    authorization_window_hours: int = 7 * 24,
    safety_margin_hours: int = 12,
) -> CapturePlan:
    """Approval-aware payment timing (PRD 7.6, 7.8, 11; issue section 3).

    Card authorizations are short (Stripe ``capture_before``; about 7 days for
    customer-initiated card payments; uncaptured PaymentIntents are canceled
    after 7 days), so hold-and-capture is used only while the approval decision
    and the capture fit inside the hold; otherwise the card is saved now and
    charged off-session on approval.

    1. due now = ``deposit_minor`` if it is > 0, else ``total_minor``; the
       balance (``total - due now``) is due at ``start_at -
       balance_lead_hours`` (real hours).  If that time is already ``<= now``,
       the whole total is due now and there is no balance.
    2. ``total_minor == 0``: mode ``"none"``.
    3. no approval needed: ``"automatic"`` for the due-now amount.
    4. approval needed and ``approval_window_hours + safety_margin_hours <=
       authorization_window_hours`` (the studio decides within its window, so
       the capture fits in the hold; equality still fits): ``"manual"`` with
       ``capture_by = now + authorization_window_hours - safety_margin_hours``.
    5. otherwise ``"setup"``: nothing charged now; the due-now amount is
       charged off-session on approval.
    6. ``save_payment_method`` is True when a balance remains or mode is ``"setup"``.

    Caller's duty (not decidable here): charge the balance at
    ``max(balance_due_at, approval time)`` -- never before approval.

    ``now`` / ``start_at``: aware datetimes; amounts: ints >= 0 with
    ``deposit_minor <= total_minor``; hours: ints >= 0 (authorization window
    > 0).  Raises :class:`InvalidMoney` / :class:`InvalidPolicy` /
    :class:`InvalidQuery`.
    """
    if not isinstance(requires_approval, bool):
        raise InvalidPolicy(f"requires_approval: must be a bool, got {requires_approval!r}")
    current = _utc(now, "now")
    start = _utc(start_at, "start_at")
    _check_money("total_minor", total_minor)
    _check_money("deposit_minor", deposit_minor)
    if deposit_minor > total_minor:
        raise InvalidMoney(
            f"deposit_minor: must not exceed total_minor ({total_minor}), got {deposit_minor}"
        )
    _check_int("approval_window_hours", approval_window_hours, 0, MAX_HOURS)
    _check_int("balance_lead_hours", balance_lead_hours, 0, MAX_HOURS)
    _check_int("authorization_window_hours", authorization_window_hours, 1, MAX_HOURS)
    _check_int("safety_margin_hours", safety_margin_hours, 0, MAX_HOURS)

    due_now = deposit_minor if deposit_minor > 0 else total_minor
    balance_due_at: datetime | None = start - timedelta(hours=balance_lead_hours)
    if balance_due_at <= current:  # type: ignore[operator]
        due_now = total_minor
    balance = total_minor - due_now
    if not balance:
        balance_due_at = None

    if total_minor == 0:
        return CapturePlan("none", 0, 0, None, None, False)
    if not requires_approval:
        return CapturePlan("automatic", due_now, balance, balance_due_at, None, balance > 0)
    if approval_window_hours + safety_margin_hours <= authorization_window_hours:
        capture_by = current + timedelta(hours=authorization_window_hours - safety_margin_hours)
        return CapturePlan("manual", due_now, balance, balance_due_at, capture_by, balance > 0,
                           amount_on_approval_minor=due_now)
    return CapturePlan("setup", 0, balance, balance_due_at, None, True,
                       amount_on_approval_minor=due_now)

