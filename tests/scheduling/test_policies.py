"""Cancellation / reschedule policies (wall-clock deadlines in the studio zone,
DST included), their JSON snapshots and descriptions, and the capture plan.

All instants below are written in UTC; the comment gives the Toronto wall clock.
America/Toronto 2026: clocks spring forward Sun 2026-03-08 02:00 EST -> 03:00 EDT
(07:00 UTC) and fall back Sun 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC).
"""

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studiobook.scheduling import (
    CancellationOutcome,
    CancellationPolicy,
    CapturePlan,
    InvalidMoney,
    InvalidPolicy,
    InvalidQuery,
    RefundTier,
    RescheduleOutcome,
    ReschedulePolicy,
    SchedulingError,
    cancellation_outcome,
    capture_plan,
    describe,
    policy_from_dict,
    policy_to_dict,
    reschedule_outcome,
    tier_deadline,
)

TORONTO = "America/Toronto"
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DEFAULT = CancellationPolicy()
TO_THE_START = CancellationPolicy((RefundTier(48, 100), RefundTier(0, 10)))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cancel(now, start, policy=DEFAULT, paid=10_000, zone=TORONTO) -> CancellationOutcome:
    return cancellation_outcome(policy, start_at=start, now=now, zone=zone, paid_minor=paid)


# --------------------------------------------------------------------------- defaults


def test_defaults_follow_the_prd():
    assert DEFAULT.tiers == (RefundTier(48, 100), RefundTier(24, 50), RefundTier(0, 0))
    assert ReschedulePolicy() == ReschedulePolicy(1, 24, 0, 0)


# --------------------------------------------------------------------------- boundaries

JUNE_START = utc(2026, 6, 17, 14)  # Wed 10:00 EDT, no DST change nearby


@pytest.mark.parametrize(
    ("now", "percent", "refund", "tier", "deadline", "next_percent"),
    [
        (JUNE_START - 30 * 24 * HOUR, 100, 10_000, RefundTier(48, 100), utc(2026, 6, 15, 14), 50),
        (JUNE_START - 48 * HOUR, 100, 10_000, RefundTier(48, 100), utc(2026, 6, 15, 14), 50),
        (JUNE_START - 48 * HOUR + US, 50, 5_000, RefundTier(24, 50), utc(2026, 6, 16, 14), 0),
        (JUNE_START - 24 * HOUR, 50, 5_000, RefundTier(24, 50), utc(2026, 6, 16, 14), 0),
        (JUNE_START - 24 * HOUR + US, 0, 0, RefundTier(0, 0), None, 0),
        (JUNE_START - US, 0, 0, RefundTier(0, 0), None, 0),
        (JUNE_START, 0, 0, None, None, 0),
        (JUNE_START + US, 0, 0, None, None, 0),
        (JUNE_START + 5 * HOUR, 0, 0, None, None, 0),
    ],
)
def test_default_policy_boundaries_are_inclusive(now, percent, refund, tier, deadline,
                                                 next_percent):
    outcome = cancel(now, JUNE_START)
    assert (outcome.refund_percent, outcome.refund_minor, outcome.tier, outcome.deadline,
            outcome.next_refund_percent) == (percent, refund, tier, deadline, next_percent)
    assert type(outcome.refund_minor) is int


def test_summaries_name_the_local_deadline():
    assert cancel(JUNE_START - 72 * HOUR, JUNE_START).summary == (
        "Cancelling now refunds the full amount paid; this applies until Mon 2026-06-15 "
        "10:00 EDT (48 h before the start), then 50% of the amount paid."
    )
    assert cancel(JUNE_START - 30 * HOUR, JUNE_START).summary == (
        "Cancelling now refunds 50% of the amount paid; this applies until Tue 2026-06-16 "
        "10:00 EDT (24 h before the start), then nothing."
    )
    assert cancel(JUNE_START - HOUR, JUNE_START).summary == (
        "Cancelling now refunds nothing: the last refund deadline (Tue 2026-06-16 10:00 EDT, "
        "24 h before the start) has passed."
    )
    assert cancel(JUNE_START, JUNE_START).summary == (
        "The session started at Wed 2026-06-17 10:00 EDT: cancelling now refunds nothing "
        "(no-show)."
    )
    assert cancel(JUNE_START - HOUR, JUNE_START, TO_THE_START).summary == (
        "Cancelling now refunds 10% of the amount paid; this applies up to the start "
        "(Wed 2026-06-17 10:00 EDT), then nothing."
    )


def test_zero_hour_tier_applies_up_to_but_not_at_the_start():
    before = cancel(JUNE_START - US, JUNE_START, TO_THE_START, paid=8051)
    assert (before.refund_percent, before.refund_minor, before.deadline) == (10, 805, JUNE_START)
    at = cancel(JUNE_START, JUNE_START, TO_THE_START, paid=8051)
    assert (at.refund_percent, at.refund_minor, at.tier) == (0, 0, None)


def test_last_tier_above_zero_hours_refunds_nothing_after_its_deadline():
    policy = CancellationPolicy((RefundTier(48, 100), RefundTier(24, 50)))
    assert cancel(JUNE_START - 24 * HOUR, JUNE_START, policy).refund_percent == 50
    late = cancel(JUNE_START - 24 * HOUR + US, JUNE_START, policy)
    assert (late.refund_percent, late.tier, late.deadline) == (0, None, None)


def test_refund_rounds_half_even_and_shared_percentages_report_the_last_deadline():
    policy = CancellationPolicy((RefundTier(72, 50), RefundTier(48, 50), RefundTier(0, 0)))
    outcome = cancel(JUNE_START - 100 * HOUR, JUNE_START, policy, paid=8051)
    assert outcome.refund_minor == 4026  # 4025.5 -> even
    assert outcome.tier == RefundTier(72, 50)
    assert outcome.deadline == utc(2026, 6, 15, 14)  # 50 % lasts until the 48-h deadline
    assert outcome.next_refund_percent == 0
    assert cancel(JUNE_START, JUNE_START, paid=0).refund_minor == 0


def test_never_refund_policy():
    policy = CancellationPolicy((RefundTier(0, 0),))
    outcome = cancel(JUNE_START - 1000 * HOUR, JUNE_START, policy)
    assert (outcome.refund_percent, outcome.tier, outcome.deadline) == (0, RefundTier(0, 0), None)
    assert outcome.summary == "Cancelling refunds nothing under this studio's policy."


# --------------------------------------------------------------------------- DST

SPRING_START = utc(2026, 3, 9, 14)  # Mon 2026-03-09 10:00 EDT
FALL_START = utc(2026, 11, 2, 15)  # Mon 2026-11-02 10:00 EST


def test_spring_forward_48_hours_is_saturday_wall_clock_47_real_hours():
    deadline = tier_deadline(SPRING_START, 48, TORONTO)
    assert deadline == utc(2026, 3, 7, 15)  # Sat 10:00 EST
    assert SPRING_START - deadline == 47 * HOUR
    assert cancel(deadline, SPRING_START).refund_percent == 100
    assert cancel(deadline + US, SPRING_START).refund_percent == 50
    # 47.5 real hours before the start is still Saturday 09:30 EST: full refund.
    assert cancel(SPRING_START - timedelta(hours=47, minutes=30),
                  SPRING_START).refund_percent == 100
    assert cancel(SPRING_START - timedelta(hours=46, minutes=59),
                  SPRING_START).refund_percent == 50
    # The 24-h deadline, Sun 10:00 EDT, is after the change: 24 real hours.
    assert tier_deadline(SPRING_START, 24, TORONTO) == utc(2026, 3, 8, 14)
    assert cancel(utc(2026, 3, 8, 14), SPRING_START).refund_percent == 50
    assert cancel(utc(2026, 3, 8, 14) + US, SPRING_START).refund_percent == 0


def test_fall_back_48_hours_is_saturday_wall_clock_49_real_hours():
    deadline = tier_deadline(FALL_START, 48, TORONTO)
    assert deadline == utc(2026, 10, 31, 14)  # Sat 10:00 EDT
    assert FALL_START - deadline == 49 * HOUR
    assert cancel(deadline, FALL_START).refund_percent == 100
    # 48 h 59 min real time before the start, but after Saturday 10:00: 50 %.
    assert cancel(deadline + US, FALL_START).refund_percent == 50
    assert cancel(FALL_START - 48 * HOUR, FALL_START).refund_percent == 50
    assert tier_deadline(FALL_START, 24, TORONTO) == utc(2026, 11, 1, 15)  # Sun 10:00 EST
    assert cancel(utc(2026, 11, 1, 15), FALL_START).refund_percent == 50
    assert cancel(utc(2026, 11, 1, 15) + US, FALL_START).refund_percent == 0


def test_deadline_in_the_spring_forward_gap_is_the_first_instant_after_it():
    # Mon 2026-03-09 02:30 EDT; 24 h before is Sun 02:30, which does not exist.
    start = utc(2026, 3, 9, 6, 30)
    deadline = tier_deadline(start, 24, TORONTO)
    assert deadline == utc(2026, 3, 8, 7)  # 03:00 EDT, the end of the gap
    assert start - deadline == timedelta(hours=23, minutes=30)
    # Sun 12:30 EDT minus 10 h lands in the same gap.
    assert tier_deadline(utc(2026, 3, 8, 16, 30), 10, TORONTO) == utc(2026, 3, 8, 7)
    policy = CancellationPolicy((RefundTier(24, 100), RefundTier(0, 0)))
    assert cancel(utc(2026, 3, 8, 6, 59), start, policy).refund_percent == 100  # 01:59 EST
    assert cancel(deadline, start, policy).refund_percent == 100
    assert cancel(deadline + US, start, policy).refund_percent == 0


def test_deadline_in_the_fall_back_hour_is_the_earlier_instant():
    # Mon 2026-11-02 01:30 EST; 24 h before is Sun 01:30, which happens twice.
    start = utc(2026, 11, 2, 6, 30)
    deadline = tier_deadline(start, 24, TORONTO)
    assert deadline == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    assert start - deadline == 25 * HOUR
    policy = CancellationPolicy((RefundTier(24, 100), RefundTier(0, 0)))
    assert cancel(deadline, start, policy).refund_percent == 100
    assert cancel(deadline + US, start, policy).refund_percent == 0
    # The second 01:30 (EST) reads the same on the clock but is past the deadline.
    assert cancel(utc(2026, 11, 1, 6, 30), start, policy).refund_percent == 0


def test_zero_hours_is_the_start_even_at_the_second_ambiguous_reading():
    second_0130 = utc(2026, 11, 1, 6, 30)  # 01:30 EST, after the fall back
    assert tier_deadline(second_0130, 0, TORONTO) == second_0130
    assert tier_deadline(second_0130, 1, TORONTO) == utc(2026, 11, 1, 4, 30)  # 00:30 EDT


def test_tier_deadline_accepts_any_aware_datetime_and_returns_utc():
    start = datetime(2026, 6, 17, 10, tzinfo=ZoneInfo(TORONTO))
    deadline = tier_deadline(start, 48, TORONTO)
    assert deadline == utc(2026, 6, 15, 14) and deadline.tzinfo is UTC
    assert tier_deadline(start, 0, TORONTO).tzinfo is UTC


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: tier_deadline(datetime(2026, 1, 1), 1, TORONTO),  # noqa: DTZ001
         InvalidQuery, r"start_at must be a timezone-aware"),
        (lambda: tier_deadline(JUNE_START, 1, "Mars/Olympus"), InvalidQuery, r"unknown time zone"),
        (lambda: tier_deadline(JUNE_START, -1, TORONTO), InvalidPolicy, r"^hours: "),
        (lambda: tier_deadline(JUNE_START, 1.5, TORONTO), InvalidPolicy, r"^hours: "),
        (lambda: tier_deadline(JUNE_START, 10**6, TORONTO), InvalidPolicy,
         r"^hours: must be an int 0\.\.8784"),
        (lambda: cancel(datetime(2026, 1, 1), JUNE_START),  # noqa: DTZ001
         InvalidQuery, r"now must be"),
        (lambda: cancel(JUNE_START, JUNE_START, paid=-1), InvalidMoney, r"^paid_minor: "),
        (lambda: cancel(JUNE_START, JUNE_START, policy=ReschedulePolicy()), InvalidPolicy,
         r"^policy: must be a CancellationPolicy"),
    ],
)
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- reschedule


def move(now, start=JUNE_START, policy=None, done=0, total=32_205) -> RescheduleOutcome:
    policy = policy or ReschedulePolicy(free_reschedules=1, free_min_hours_before=24,
                                        fee_percent=10, fee_minor=2_500)
    return reschedule_outcome(policy, start_at=start, now=now, zone=TORONTO,
                              reschedules_done=done, total_minor=total)


def test_reschedule_free_window_is_inclusive():
    free = move(JUNE_START - 24 * HOUR)
    assert (free.is_allowed, free.is_free, free.fee_minor) == (True, True, 0)
    assert free.summary == (
        "Rescheduling now is free (1 free reschedule left, usable until Tue 2026-06-16 10:00 EDT)."
    )
    late = move(JUNE_START - 24 * HOUR + US)
    # 2500 + 10 % of 32205 = 2500 + 3220 (3220.5 -> even)
    assert (late.is_allowed, late.is_free, late.fee_minor) == (True, False, 5_720)
    assert late.summary == (
        "Rescheduling now costs the reschedule fee: free reschedules end at Tue 2026-06-16 "
        "10:00 EDT."
    )


def test_reschedule_after_the_free_ones_are_used_costs_the_fee():
    used = move(JUNE_START - 500 * HOUR, done=1)
    assert (used.is_allowed, used.is_free, used.fee_minor) == (True, False, 5_720)
    assert used.summary == "Rescheduling now costs the reschedule fee: the free reschedules " \
                           "have been used."
    two = ReschedulePolicy(free_reschedules=2, fee_minor=100)
    assert move(JUNE_START - 500 * HOUR, policy=two, done=1).is_free
    assert not move(JUNE_START - 500 * HOUR, policy=two, done=2).is_free
    none_free = move(JUNE_START - 500 * HOUR, policy=ReschedulePolicy(0, 24, 0, 100))
    assert (none_free.is_free, none_free.fee_minor) == (False, 100)
    assert none_free.summary.endswith("the booking has no free reschedules.")


def test_reschedule_is_refused_at_and_after_the_start():
    for now in (JUNE_START, JUNE_START + HOUR):
        outcome = move(now)
        assert (outcome.is_allowed, outcome.is_free, outcome.fee_minor) == (False, False, 0)
        assert outcome.summary == ("The session started at Wed 2026-06-17 10:00 EDT: it can no "
                                   "longer be rescheduled.")
    zero_hours = ReschedulePolicy(free_min_hours_before=0)
    assert move(JUNE_START - US, policy=zero_hours).is_free
    assert not move(JUNE_START, policy=zero_hours).is_allowed


def test_reschedule_without_any_fee_is_allowed_at_no_charge():
    outcome = move(JUNE_START - HOUR, policy=ReschedulePolicy())
    assert (outcome.is_allowed, outcome.is_free, outcome.fee_minor) == (True, False, 0)
    assert outcome.summary.startswith("Rescheduling now has no fee:")


def test_reschedule_free_deadline_uses_the_wall_clock_across_dst():
    # 24 h before Mon 2026-03-09 02:30 EDT is the nonexistent Sun 02:30 -> 03:00 EDT.
    start = utc(2026, 3, 9, 6, 30)
    assert move(utc(2026, 3, 8, 7), start=start).is_free
    assert not move(utc(2026, 3, 8, 7) + US, start=start).is_free


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"done": -1}, InvalidPolicy, r"^reschedules_done: "),
        ({"done": True}, InvalidPolicy, r"^reschedules_done: "),
        ({"total": -1}, InvalidMoney, r"^total_minor: "),
        ({"policy": CancellationPolicy()}, InvalidPolicy, r"^policy: must be a ReschedulePolicy"),
    ],
)
def test_reschedule_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        move(JUNE_START - HOUR, **kwargs)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RefundTier(48, 101), r"^refund_percent: must be an int 0\.\.100, got 101"),
        (lambda: RefundTier(-1, 50), r"^min_hours_before: must be an int 0\.\.8784, got -1"),
        (lambda: RefundTier(48.0, 50), r"^min_hours_before: "),
        (lambda: RefundTier(48, True), r"^refund_percent: "),
        (lambda: CancellationPolicy(()), r"^tiers: must have at least one tier"),
        (lambda: CancellationPolicy("48"), r"^tiers: must be a sequence"),
        (lambda: CancellationPolicy(((48, 100),)), r"^tiers\[0\]: must be a RefundTier"),
        (lambda: CancellationPolicy((RefundTier(24, 50), RefundTier(48, 100))),
         r"^tiers\[1\]\.min_hours_before: must be less than tiers\[0\]\.min_hours_before "
         r"\(24\), got 48"),
        (lambda: CancellationPolicy((RefundTier(48, 100), RefundTier(48, 50))),
         r"^tiers\[1\]\.min_hours_before: "),
        (lambda: CancellationPolicy((RefundTier(48, 50), RefundTier(24, 100))),
         r"^tiers\[1\]\.refund_percent: must not exceed tiers\[0\]\.refund_percent \(50\), "
         r"got 100"),
        (lambda: ReschedulePolicy(free_reschedules=-1), r"^free_reschedules: "),
        (lambda: ReschedulePolicy(free_min_hours_before=-1), r"^free_min_hours_before: "),
        (lambda: ReschedulePolicy(fee_percent=101), r"^fee_percent: must be an int 0\.\.100"),
        (lambda: ReschedulePolicy(fee_minor=-5), r"^fee_minor: must be an int >= 0, got -5"),
        (lambda: ReschedulePolicy(fee_minor=2.5), r"^fee_minor: "),
    ],
)
def test_policies_validate(build, message):
    with pytest.raises(InvalidPolicy, match=message) as info:
        build()
    assert info.value.code == "invalid_policy" and isinstance(info.value, SchedulingError)


def test_cancellation_policy_accepts_a_list_and_stores_a_tuple():
    policy = CancellationPolicy([RefundTier(24, 100), RefundTier(0, 0)])
    assert policy.tiers == (RefundTier(24, 100), RefundTier(0, 0))
    assert hash(policy) == hash(CancellationPolicy((RefundTier(24, 100), RefundTier(0, 0))))


# --------------------------------------------------------------------------- snapshots


def test_snapshot_shapes():
    assert policy_to_dict(DEFAULT) == {
        "kind": "cancellation",
        "version": 1,
        "tiers": [
            {"min_hours_before": 48, "refund_percent": 100},
            {"min_hours_before": 24, "refund_percent": 50},
            {"min_hours_before": 0, "refund_percent": 0},
        ],
    }
    assert policy_to_dict(ReschedulePolicy(2, 12, 10, 500)) == {
        "kind": "reschedule",
        "version": 1,
        "free_reschedules": 2,
        "free_min_hours_before": 12,
        "fee_percent": 10,
        "fee_minor": 500,
    }
    for policy in (DEFAULT, ReschedulePolicy(2, 12, 10, 500)):
        assert policy_from_dict(json.loads(json.dumps(policy_to_dict(policy)))) == policy


def _cancellation(**changes):
    data = policy_to_dict(DEFAULT) | changes
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], r"^snapshot: must be a mapping"),
        ({"kind": "refund"}, r"^kind: must be 'cancellation' or 'reschedule', got 'refund'"),
        ({"version": 1, "tiers": []}, r"^kind: "),
        (_cancellation(version=2), r"^version: must be 1, got 2"),
        (_cancellation(version=True), r"^version: "),
        (_cancellation(version=1.0), r"^version: "),
        (_cancellation(extra=1), r"^extra: unknown field"),
        ({"kind": "cancellation", "version": 1}, r"^tiers: missing"),
        (_cancellation(tiers={"a": 1}), r"^tiers: must be a list"),
        (_cancellation(tiers=[]), r"^tiers: must have at least one tier"),
        (_cancellation(tiers=[48]), r"^tiers\[0\]: must be a mapping"),
        (_cancellation(tiers=[{"min_hours_before": 48}]), r"^tiers\[0\]\.refund_percent: missing"),
        (_cancellation(tiers=[{"min_hours_before": 48, "refund_percent": 100, "x": 1}]),
         r"^tiers\[0\]\.x: unknown field"),
        (_cancellation(tiers=[{"min_hours_before": 48, "refund_percent": 100},
                              {"min_hours_before": 24, "refund_percent": 150}]),
         r"^tiers\[1\]\.refund_percent: must be an int 0\.\.100, got 150"),
        (_cancellation(tiers=[{"min_hours_before": 48, "refund_percent": 100},
                              {"min_hours_before": "24", "refund_percent": 50}]),
         r"^tiers\[1\]\.min_hours_before: must be an int"),
        (_cancellation(tiers=[{"min_hours_before": 24, "refund_percent": 100},
                              {"min_hours_before": 48, "refund_percent": 50}]),
         r"^tiers\[1\]\.min_hours_before: must be less than"),
        (policy_to_dict(ReschedulePolicy()) | {"fee_percent": 12.5}, r"^fee_percent: "),
        (policy_to_dict(ReschedulePolicy()) | {"fee_minor": False}, r"^fee_minor: "),
        ({k: v for k, v in policy_to_dict(ReschedulePolicy()).items() if k != "fee_minor"},
         r"^fee_minor: missing"),
        (policy_to_dict(ReschedulePolicy()) | {"tiers": []}, r"^tiers: unknown field"),
    ],
)
def test_policy_from_dict_validates(data, message):
    with pytest.raises(InvalidPolicy, match=message):
        policy_from_dict(data)


def test_policy_to_dict_rejects_other_objects():
    with pytest.raises(InvalidPolicy, match=r"^policy: "):
        policy_to_dict(RefundTier(1, 1))


# --------------------------------------------------------------------------- describe


def test_describe_defaults():
    assert describe(DEFAULT, ReschedulePolicy(), TORONTO) == (
        "Full refund if you cancel at least 48 h before the start; 50% at least 24 h before; "
        "no refund after that. You can reschedule free of charge any time before the start. "
        "Hours are counted on the studio's local clock (America/Toronto)."
    )


def test_describe_with_fees():
    text = describe(DEFAULT, ReschedulePolicy(1, 24, 10, 2_500), TORONTO, currency="CAD")
    assert text == (
        "Full refund if you cancel at least 48 h before the start; 50% at least 24 h before; "
        "no refund after that. One free reschedule if you ask at least 24 h before the start; "
        "otherwise each reschedule costs CAD 25.00 plus 10% of the booking total. "
        "Hours are counted on the studio's local clock (America/Toronto)."
    )
    assert describe(DEFAULT, ReschedulePolicy(2, 0, 15, 0), "UTC").split(". ")[1] == (
        "Two free reschedules if you ask before the start; otherwise each reschedule costs "
        "15% of the booking total"
    )
    assert describe(DEFAULT, ReschedulePolicy(0, 24, 0, 1_000), "Asia/Tokyo",
                    currency="JPY").split(". ")[1] == (
        "Each reschedule costs JPY 1,000; no reschedule once the session has started"
    )


@pytest.mark.parametrize(
    ("tiers", "sentence"),
    [
        ((RefundTier(0, 0),), "No refund if you cancel."),
        ((RefundTier(0, 100),),
         "Full refund if you cancel before the start; no refund once the session has started."),
        ((RefundTier(72, 100), RefundTier(24, 25)),
         "Full refund if you cancel at least 72 h before the start; 25% at least 24 h before; "
         "no refund after that."),
        ((RefundTier(72, 80), RefundTier(48, 80), RefundTier(24, 0), RefundTier(0, 0)),
         "80% refund if you cancel at least 48 h before the start; no refund after that."),
        ((RefundTier(48, 100), RefundTier(0, 20)),
         "Full refund if you cancel at least 48 h before the start; 20% up to the start; "
         "no refund once the session has started."),
    ],
)
def test_describe_cancellation_sentences(tiers, sentence):
    text = describe(CancellationPolicy(tiers), ReschedulePolicy(), "Europe/London")
    assert text.startswith(sentence + " You can reschedule")


def test_describe_rejects_bad_input():
    with pytest.raises(InvalidPolicy, match=r"^currency: needed"):
        describe(DEFAULT, ReschedulePolicy(fee_minor=1), TORONTO)
    with pytest.raises(InvalidPolicy, match=r"^cancellation: "):
        describe(ReschedulePolicy(), ReschedulePolicy(), TORONTO)
    with pytest.raises(InvalidPolicy, match=r"^reschedule: "):
        describe(DEFAULT, DEFAULT, TORONTO)
    with pytest.raises(InvalidQuery):
        describe(DEFAULT, ReschedulePolicy(), "Nowhere/Town")


# --------------------------------------------------------------------------- capture plan

NOW = utc(2026, 6, 1, 12)
START = utc(2026, 6, 20, 14)


def plan(**kwargs) -> CapturePlan:
    args = {
        "requires_approval": False,
        "now": NOW,
        "start_at": START,
        "total_minor": 32_205,
        "deposit_minor": 8_051,
        "approval_window_hours": 48,
        "balance_lead_hours": 48,
    } | kwargs
    return capture_plan(**args)


def test_capture_plan_automatic_with_deposit():
    assert plan() == CapturePlan(
        mode="automatic", amount_now_minor=8_051, balance_minor=24_154,
        balance_due_at=utc(2026, 6, 18, 14), capture_by=None, save_payment_method=True,
        amount_on_approval_minor=0,
    )


def test_capture_plan_automatic_without_deposit_charges_the_total():
    assert plan(deposit_minor=0) == CapturePlan("automatic", 32_205, 0, None, None, False, 0)


def test_capture_plan_charges_the_total_when_the_balance_is_already_due():
    late = plan(start_at=NOW + 48 * HOUR)  # balance due exactly now
    assert late == CapturePlan("automatic", 32_205, 0, None, None, False, 0)
    assert plan(start_at=NOW + 48 * HOUR + US).balance_minor == 24_154
    assert plan(start_at=NOW + HOUR, requires_approval=True).amount_now_minor == 32_205


def test_capture_plan_manual_when_approval_fits_in_the_hold():
    assert plan(requires_approval=True) == CapturePlan(
        mode="manual", amount_now_minor=8_051, balance_minor=24_154,
        balance_due_at=utc(2026, 6, 18, 14), capture_by=NOW + 156 * HOUR,
        save_payment_method=True, amount_on_approval_minor=8_051,
    )
    assert plan(requires_approval=True, deposit_minor=0) == CapturePlan(
        "manual", 32_205, 0, None, NOW + 156 * HOUR, False, 32_205
    )


def test_capture_plan_boundary_approval_window_plus_margin_equals_hold():
    fits = plan(requires_approval=True, approval_window_hours=156)  # 156 + 12 == 168
    assert (fits.mode, fits.capture_by) == ("manual", utc(2026, 6, 8, 0))
    too_long = plan(requires_approval=True, approval_window_hours=157)
    assert too_long.mode == "setup"
    custom = plan(requires_approval=True, approval_window_hours=20,
                  authorization_window_hours=24, safety_margin_hours=4)
    assert (custom.mode, custom.capture_by) == ("manual", NOW + 20 * HOUR)
    assert plan(requires_approval=True, approval_window_hours=21,
                authorization_window_hours=24, safety_margin_hours=4).mode == "setup"


def test_capture_plan_setup_when_approval_may_outlast_the_hold():
    assert plan(requires_approval=True, approval_window_hours=240) == CapturePlan(
        mode="setup", amount_now_minor=0, balance_minor=24_154,
        balance_due_at=utc(2026, 6, 18, 14), capture_by=None, save_payment_method=True,
        amount_on_approval_minor=8_051,
    )
    assert plan(requires_approval=True, approval_window_hours=240, deposit_minor=0) == \
        CapturePlan("setup", 0, 0, None, None, True, 32_205)


def test_capture_plan_free_booking_needs_no_payment():
    for approval in (False, True):
        assert plan(requires_approval=approval, total_minor=0, deposit_minor=0) == \
            CapturePlan("none", 0, 0, None, None, False, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"deposit_minor": 40_000}, InvalidMoney, r"^deposit_minor: must not exceed total_minor"),
        ({"total_minor": -1}, InvalidMoney, r"^total_minor: "),
        ({"deposit_minor": 1.5}, InvalidMoney, r"^deposit_minor: "),
        ({"approval_window_hours": -1}, InvalidPolicy, r"^approval_window_hours: "),
        ({"balance_lead_hours": None}, InvalidPolicy, r"^balance_lead_hours: "),
        ({"authorization_window_hours": 0}, InvalidPolicy, r"^authorization_window_hours: "),
        ({"safety_margin_hours": -1}, InvalidPolicy, r"^safety_margin_hours: "),
        ({"requires_approval": 1}, InvalidPolicy, r"^requires_approval: must be a bool"),
        ({"now": datetime(2026, 6, 1)}, InvalidQuery, r"now must be"),  # noqa: DTZ001
    ],
)
def test_capture_plan_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        plan(**kwargs)


# --------------------------------------------------------------------------- properties

ZONES = ["America/Toronto", "Europe/London", "Australia/Lord_Howe", "America/St_Johns",
         "Pacific/Chatham", "America/Santiago", "Asia/Kolkata", "UTC"]


def _transitions(zone: str) -> list[datetime]:
    tz = ZoneInfo(zone)
    out = []
    t = utc(2026, 1, 1)
    while t < utc(2027, 1, 1):
        if t.astimezone(tz).utcoffset() != (t + HOUR).astimezone(tz).utcoffset():
            out.append(t)
        t += HOUR
    return out


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


@st.composite
def zone_and_start(draw):
    """A zone and a start (UTC), half of the time within ~5 days after a DST change."""
    zone = draw(st.sampled_from(ZONES))
    near = TRANSITIONS[zone]
    if near and draw(st.booleans()):
        base = draw(st.sampled_from(near))
        start = base + timedelta(minutes=draw(st.integers(min_value=-300, max_value=7200)))
    else:
        start = utc(2026, 1, 1) + timedelta(minutes=draw(st.integers(0, 365 * 24 * 60)))
    return zone, start


@st.composite
def cancellation_policies(draw):
    hours = sorted(draw(st.sets(st.integers(min_value=0, max_value=200), min_size=1,
                                max_size=5)), reverse=True)
    percents = sorted(draw(st.lists(st.integers(min_value=0, max_value=100),
                                    min_size=len(hours), max_size=len(hours))), reverse=True)
    return CancellationPolicy(tuple(RefundTier(h, p) for h, p in zip(hours, percents,
                                                                      strict=True)))


reschedule_policies = st.builds(
    ReschedulePolicy,
    free_reschedules=st.integers(min_value=0, max_value=5),
    free_min_hours_before=st.integers(min_value=0, max_value=8784),
    fee_percent=st.integers(min_value=0, max_value=100),
    fee_minor=st.integers(min_value=0, max_value=10**9),
)


def _wall(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@given(zone_and_start(), st.integers(min_value=1, max_value=300))
def test_tier_deadline_is_the_first_instant_the_clock_reads_the_target(zs, hours):
    zone, start = zs
    deadline = tier_deadline(start, hours, zone)
    target = _wall(start, zone) - timedelta(hours=hours)
    assert deadline.tzinfo is UTC and deadline < start
    assert _wall(deadline, zone) >= target
    assert _wall(deadline - US, zone) < target


@given(zone_and_start(), cancellation_policies(), st.integers(min_value=0, max_value=10**9),
       st.lists(st.integers(min_value=-250 * 3600, max_value=3600), min_size=2, max_size=6),
       st.integers(min_value=-1, max_value=1))
def test_refund_never_exceeds_paid_and_never_increases_later(zs, policy, paid, offsets, nudge):
    zone, start = zs
    # Offsets in seconds, nudged by a microsecond to probe both sides of each deadline.
    nows = sorted(start + timedelta(seconds=s) + nudge * US for s in offsets)
    outcomes = [cancel(now, start, policy, paid, zone) for now in nows]
    for now, outcome in zip(nows, outcomes, strict=True):
        assert 0 <= outcome.refund_minor <= paid
        assert outcome.refund_minor == round(Fraction(paid * outcome.refund_percent, 100))
        if now >= start:
            assert outcome.refund_percent == 0 and outcome.tier is None
        if outcome.deadline is not None:
            assert now <= outcome.deadline <= start
            assert outcome.next_refund_percent < outcome.refund_percent
    percents = [o.refund_percent for o in outcomes]
    assert percents == sorted(percents, reverse=True)


@given(zone_and_start(), cancellation_policies(), st.integers(min_value=0, max_value=10**6))
def test_outcome_matches_the_deadline_rule(zs, policy, paid):
    zone, start = zs
    for tier in policy.tiers:
        deadline = tier_deadline(start, tier.min_hours_before, zone)
        if deadline >= start:
            continue  # a 0-hour tier's deadline is the start, which is a no-show
        at = cancel(deadline, start, policy, paid, zone)
        after = cancel(deadline + US, start, policy, paid, zone)
        assert at.refund_percent >= tier.refund_percent >= after.refund_percent


@given(cancellation_policies())
def test_cancellation_snapshot_round_trips(policy):
    data = policy_to_dict(policy)
    assert policy_from_dict(json.loads(json.dumps(data))) == policy
    assert policy_to_dict(policy_from_dict(data)) == data


@given(reschedule_policies)
def test_reschedule_snapshot_round_trips(policy):
    data = policy_to_dict(policy)
    assert policy_from_dict(json.loads(json.dumps(data))) == policy
    assert policy_to_dict(policy_from_dict(data)) == data


@given(reschedule_policies, zone_and_start(), st.integers(min_value=-300 * 3600, max_value=3600),
       st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=10**9))
def test_reschedule_outcome_properties(policy, zs, offset, done, total):
    zone, start = zs
    now = start + timedelta(seconds=offset)
    outcome = reschedule_outcome(policy, start_at=start, now=now, zone=zone,
                                 reschedules_done=done, total_minor=total)
    if now >= start:
        assert not outcome.is_allowed and outcome.fee_minor == 0
        return
    assert outcome.is_allowed
    deadline = tier_deadline(start, policy.free_min_hours_before, zone)
    assert outcome.is_free == (done < policy.free_reschedules and now <= deadline)
    if outcome.is_free:
        assert outcome.fee_minor == 0
    else:
        assert outcome.fee_minor == policy.fee_minor + round(
            Fraction(total * policy.fee_percent, 100))


@given(st.booleans(), st.integers(min_value=0, max_value=10**8), st.data(),
       st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=400),
       st.integers(min_value=-100, max_value=1000))
def test_capture_plan_properties(approval, total, data, approval_hours, lead, start_hours):
    deposit = data.draw(st.integers(min_value=0, max_value=total))
    start = NOW + timedelta(hours=start_hours)
    p = plan(requires_approval=approval, start_at=start, total_minor=total,
             deposit_minor=deposit, approval_window_hours=approval_hours,
             balance_lead_hours=lead)
    charged_early = p.amount_now_minor + p.amount_on_approval_minor
    if p.mode == "manual":
        assert p.amount_now_minor == p.amount_on_approval_minor
        charged_early = p.amount_now_minor
    assert charged_early + p.balance_minor == total
    assert (p.balance_minor == 0) == (p.balance_due_at is None)
    if p.balance_due_at is not None:
        assert p.balance_due_at == start - timedelta(hours=lead) > NOW
    assert p.save_payment_method == (p.balance_minor > 0 or p.mode == "setup")
    assert (p.capture_by is not None) == (p.mode == "manual")
    if total == 0:
        assert p.mode == "none"
    elif not approval:
        assert p.mode == "automatic"
    else:
        assert p.mode == ("manual" if approval_hours + 12 <= 168 else "setup")
