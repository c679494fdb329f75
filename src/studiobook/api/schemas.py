"""Request and response shapes of the JSON API. Instants are ISO 8601 with an offset on the
way in (naive ones are refused) and UTC (``Z``) on the way out; money is integer minor units
(``*_cents``, the names recording-studio-prd.md section 8 uses) with an ISO 4217 currency."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime, time
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import AfterValidator, model_validator

from studiobook.api.types import Instant, LocalDate, WallTime
from studiobook.scheduling import money
from studiobook.studios.services import SETTING_LIMITS


def _email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("enter a valid email address") from None
    return value.strip().lower()


EmailStr = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Minutes = Annotated[int, Field(gt=0, le=24 * 60)]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Weekday = Annotated[int, Field(ge=1, le=7)]
MAX_SEARCH_DAYS = 62


class Message(Schema):
    detail: str


# --- auth ----------------------------------------------------------------------------------

class RegisterIn(Schema):
    email: EmailStr
    password: Annotated[str, Field(min_length=8, max_length=128)]
    name: Annotated[str, Field(min_length=1, max_length=150)]


class LoginIn(Schema):
    email: EmailStr
    password: Annotated[str, Field(min_length=1, max_length=128)]


class MembershipOut(Schema):
    studio: str
    role: str


class UserOut(Schema):
    id: int
    email: str
    name: str
    memberships: list[MembershipOut]


class TokenOut(Schema):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    user: UserOut


class SessionOut(Schema):
    user: UserOut | None


class RegisterOut(Schema):
    """A new account. With email verification mandatory (the default) ``token`` is null and
    ``email_verification`` is ``"sent"``: follow the link in the email (the same link as the
    web sign-up's), then sign in with POST /api/auth/login."""

    token: str | None
    token_type: Literal["Bearer"] = "Bearer"
    user: UserOut
    email_verification: Literal["sent", "not_required"]


class LogoutIn(Schema):
    all: bool = Field(False, description="true: revoke every API token of this user, on "
                                         "every device, and end this session")


class LogoutOut(Schema):
    detail: str
    revoked_tokens: int


# --- public studio data --------------------------------------------------------------------

class StudioOut(Schema):
    slug: str
    name: str
    time_zone: str
    currency: str
    address: str
    city: str
    latitude: float | None
    longitude: float | None
    description: str
    hold_minutes: int
    max_active_holds: int
    lead_time_minutes: int
    horizon_days: int
    slot_grid_minutes: int
    requires_approval: bool
    approval_window_hours: int
    balance_lead_hours: int
    max_unpaid_bookings: int
    max_unpaid_hours: int
    first_booking_rule: Literal["none", "approval", "deposit"]


class RoomOut(Schema):
    id: int
    name: str
    description: str
    capacity: int
    tags: list[str]
    equipment: list[str]
    color: str
    is_active: bool


class ServiceOut(Schema):
    id: int
    name: str
    description: str
    default_duration_minutes: int
    min_duration_minutes: int
    max_duration_minutes: int
    duration_step_minutes: int
    price_unit: str
    base_price_cents: int = Field(alias="base_price_minor")
    requires_room: bool
    room_tags: list[str]
    requires_engineer: bool
    staff_skill_required: str
    requires_approval: bool
    deposit_percent: int
    is_add_on: bool
    is_active: bool


class StaffOut(Schema):
    id: int
    display_name: str
    skills: list[str]
    hourly_rate_cents: int = Field(alias="hourly_rate_minor")
    is_active: bool


# --- availability, quotes, holds -----------------------------------------------------------

class SearchIn(Schema):
    """Either ``date`` (a local date in the studio's zone) or ``from``/``to`` (instants)."""

    date: LocalDate | None = None
    from_: Instant | None = Field(None, alias="from")
    to: Instant | None = None
    duration_min: Minutes
    service_id: int | None = None
    room_id: int | None = None
    staff_skill: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def one_range(self):
        if self.date is not None and (self.from_ or self.to):
            raise ValueError("give either date or from/to, not both")
        if self.date is None and not (self.from_ and self.to):
            raise ValueError("give date, or both from and to")
        if self.from_ and self.to:
            if self.to <= self.from_:
                raise ValueError("to must be after from")
            if (self.to - self.from_).days > MAX_SEARCH_DAYS:
                raise ValueError(f"from/to may span at most {MAX_SEARCH_DAYS} days")
        return self


class SlotOut(Schema):
    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: list[int]
    price_cents: int


class SearchOut(Schema):
    time_zone: str
    currency: str
    service_id: int
    duration_min: int
    slots: list[SlotOut]


class AddOnIn(Schema):
    service_id: int
    quantity: Annotated[int, Field(ge=1, le=99)] = 1


AddOns = Annotated[list[AddOnIn], Field(max_length=10)]


class SlotIn(Schema):
    service_id: int
    start_at: Instant
    duration_min: Minutes
    room_id: int | None = None
    staff_ids: Annotated[list[int], Field(max_length=4)] | None = None
    add_ons: AddOns = []


class LineOut(Schema):
    description: str
    quantity: int
    unit_price_cents: int
    total_cents: int


class TaxLineOut(Schema):
    """One tax of a quote. ``rate_percent`` is the exact rate as a decimal string
    ("9.975"); ``rate_ppm`` the same in parts per million (99750).
    ``rate_basis_points`` is deprecated: the rate in whole basis points, null when the rate
    has no exact basis-point form (9.975 %)."""

    name: str
    rate_percent: str
    rate_ppm: int
    rate_basis_points: int | None = Field(None, json_schema_extra={"deprecated": True})
    amount_cents: int


class QuoteOut(Schema):
    """Amounts in minor units; taxes are half-even on each tax line."""

    currency: str
    lines: list[LineOut]
    fees: list[LineOut]
    subtotal_cents: int
    taxes: list[TaxLineOut]
    taxes_cents: int
    total_cents: int
    deposit_cents: int
    balance_cents: int
    policy_summary: str


class HoldOut(Schema):
    hold_id: str
    expires_at: datetime
    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: list[int]


# --- bookings ------------------------------------------------------------------------------

class BookingIn(Schema):
    """From a hold (``hold_id``) or directly (``studio`` + ``service_id``, ``start_at``,
    ``duration_min``). ``override`` (admins) books over a conflict."""

    hold_id: Annotated[str, Field(max_length=32)] | None = None
    studio: Annotated[str, Field(max_length=64)] | None = None
    service_id: int | None = None
    start_at: Instant | None = None
    duration_min: Minutes | None = None
    room_id: int | None = None
    staff_ids: Annotated[list[int], Field(max_length=4)] | None = None
    notes: Annotated[str, Field(max_length=2000)] = ""
    add_ons: AddOns = []
    override: bool = False

    @model_validator(mode="after")
    def hold_or_slot(self):
        if self.hold_id is None:
            missing = [n for n in ("studio", "service_id", "start_at", "duration_min")
                       if getattr(self, n) is None]
            if missing:
                raise ValueError(f"without hold_id, {', '.join(missing)} required")
        return self


class ReasonIn(Schema):
    reason: Annotated[str, Field(max_length=2000)] = ""


class CancelIn(Schema):
    """``preview: true`` shows the refund and changes nothing; send its ``refund_cents`` back
    as ``expected_refund_cents`` to cancel only if it still holds."""

    reason: Annotated[str, Field(max_length=2000)] = ""
    preview: bool = False
    expected_refund_cents: Annotated[int, Field(ge=0)] | None = None


class CancelPreviewOut(Schema):
    refund_percent: int
    refund_cents: int
    paid_cents: int
    summary: str
    deadline: datetime | None


class RescheduleIn(Schema):
    start_at: Instant
    room_id: int | None = None
    staff_ids: Annotated[list[int], Field(max_length=4)] | None = None
    preview: bool = False
    expected_fee_cents: Annotated[int, Field(ge=0)] | None = None


class ReschedulePreviewOut(Schema):
    start_at: datetime
    end_at: datetime
    room_id: int | None
    staff_ids: list[int]
    is_free: bool
    fee_cents: int
    summary: str


class RefundIn(Schema):
    amount_cents: Annotated[int, Field(gt=0)]
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class OfflinePaymentIn(Schema):
    amount_cents: Annotated[int, Field(gt=0)]
    note: Annotated[str, Field(max_length=300)] = ""


class ApproveIn(Schema):
    message: Annotated[str, Field(max_length=2000)] = ""


class AssignStaffIn(Schema):
    staff_ids: Annotated[list[int], Field(max_length=4)]
    override: bool = False


class BookingStaffOut(Schema):
    id: int
    display_name: str
    role: str


class PaymentOut(Schema):
    id: int
    purpose: str
    gateway: str
    status: str
    capture_method: str
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    due_at: datetime | None
    capture_before: datetime | None
    client_secret: str
    action_url: str
    last_error_code: str
    is_disputed: bool


class PaymentSummaryOut(Schema):
    """``state``: none, unpaid, authorized, deposit_paid, paid, action_needed,
    partially_refunded, refunded. ``capture_at_risk`` flags an authorization that lapses
    within a day (approve before ``capture_before``)."""

    state: str
    paid_cents: int
    capture_before: datetime | None
    capture_at_risk: bool
    payments: list[PaymentOut]


class ArtistOut(Schema):
    """Who booked. ``email`` and ``phone`` (E.164) are null unless you may see them: the
    artist themself, the studio's admins, and the engineers assigned to this booking."""

    name: str
    email: str | None
    phone: str | None


class BookingOut(Schema):
    code: str
    artist: ArtistOut
    studio: str
    status: str
    source: str
    service_id: int
    service_name: str
    start_at: datetime
    end_at: datetime
    time_zone: str
    room_id: int | None
    staff: list[BookingStaffOut]
    line_items: list[LineOut]
    currency: str
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    deposit_cents: int
    policy_summary: str
    payment: PaymentSummaryOut
    notes: str
    is_override: bool
    status_reason: str
    confirm_on_payment: bool = Field(
        description="awaiting approval only for its deposit: paying (or authorizing) the "
                    "due-now payment confirms it (the studio's first_booking_rule deposit)")
    created_at: datetime


class CancelOut(Schema):
    preview: CancelPreviewOut
    booking: BookingOut | None


class RescheduleOut(Schema):
    preview: ReschedulePreviewOut
    booking: BookingOut | None


# --- admin ---------------------------------------------------------------------------------

def basis_points_or_none(rate_ppm: int) -> int | None:
    """A ppm rate in whole basis points, or None when it has no exact basis-point form."""
    return None if rate_ppm % 100 else rate_ppm // 100


def _rate_percent(text: str) -> str:
    try:
        rate_ppm = money.ppm_from_percent(text, field="rate_percent")
    except money.InvalidMoney as error:
        raise ValueError(str(error).split(": ", 1)[-1]) from None
    if rate_ppm > money.MAX_TAX_RATE_PPM:
        raise ValueError(f"a tax rate is at most "
                         f"{money.format_percent_ppm(money.MAX_TAX_RATE_PPM)} %")
    return text.strip()


class TaxRateIn(Schema):
    """A tax rate. ``rate_percent``: the rate as a decimal string with at most 4 decimals,
    0 to 30 ("13", "9.975"; ``scheduling.money.MAX_TAX_RATE_PPM``). ``rate_basis_points``
    (an int, 1300 = 13 %) is the older field, deprecated but still accepted: give exactly
    one of the two."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    rate_percent: Annotated[str, Field(max_length=30, examples=["9.975"]),
                            AfterValidator(_rate_percent)] | None = None
    rate_basis_points: Annotated[int, Field(ge=0, le=money.MAX_TAX_RATE_PPM // 100,
                                            json_schema_extra={"deprecated": True})
                                 ] | None = None
    is_active: bool = True

    @model_validator(mode="after")
    def one_rate(self):
        if (self.rate_percent is None) == (self.rate_basis_points is None):
            raise ValueError("give exactly one of rate_percent (e.g. \"9.975\") or the "
                             "deprecated rate_basis_points")
        return self

    def service_data(self) -> dict:
        """The fields ``studios.services.save`` takes: the rate as ``rate_ppm``."""
        rate_ppm = (money.ppm_from_percent(self.rate_percent) if self.rate_percent is not None
                    else self.rate_basis_points * 100)
        return {"name": self.name, "rate_ppm": rate_ppm, "is_active": self.is_active}


class TaxRateOut(Schema):
    """A tax rate: ``rate_percent`` exact ("9.975"), ``rate_ppm`` (99750), and the
    deprecated ``rate_basis_points`` (null when the rate is not whole basis points)."""

    id: int
    name: str
    rate_percent: str
    rate_ppm: int
    rate_basis_points: int | None = Field(None, json_schema_extra={"deprecated": True})
    is_active: bool

    @staticmethod
    def resolve_rate_percent(obj) -> str:
        return money.format_percent_ppm(obj.rate_ppm)

    @staticmethod
    def resolve_rate_basis_points(obj) -> int | None:
        return basis_points_or_none(obj.rate_ppm)


class FeeIn(Schema):
    """A fee. ``amount``: minor units for a ``fixed`` fee (at most
    ``scheduling.money.MAX_FIXED_FEE_MINOR``), basis points for a ``percent`` fee (100 = 1 %,
    at most 10000 = 100 %: ``MAX_PERCENT_FEE_BASIS_POINTS``)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["fixed", "percent"]
    amount: Annotated[int, Field(ge=0, le=money.MAX_FIXED_FEE_MINOR)]
    is_taxable: bool = True
    is_active: bool = True


class FeeOut(FeeIn):
    id: int


def _setting(name: str):
    low, high = SETTING_LIMITS[name]
    return Annotated[int, Field(ge=low, le=high)] | None


class StudioSettingsIn(Schema):
    """Booking and payment settings; policies in ``scheduling.policies``' JSON shape; the
    numbers' ranges are ``studios.services.SETTING_LIMITS``."""

    hold_minutes: _setting("hold_minutes") = None
    max_active_holds: _setting("max_active_holds") = None
    lead_time_minutes: _setting("lead_time_minutes") = None
    horizon_days: _setting("horizon_days") = None
    slot_grid_minutes: _setting("slot_grid_minutes") = None
    requires_approval: bool | None = None
    cancellation_policy: dict | None = None
    reschedule_policy: dict | None = None
    approval_window_hours: _setting("approval_window_hours") = None
    balance_lead_hours: _setting("balance_lead_hours") = None
    platform_fee_basis_points: _setting("platform_fee_basis_points") = None
    max_unpaid_bookings: _setting("max_unpaid_bookings") = None
    max_unpaid_hours: _setting("max_unpaid_hours") = None
    first_booking_rule: Literal["none", "approval", "deposit"] | None = Field(
        None, description="what an artist's first booking at the studio needs (no completed "
                          "or paid booking there yet): none, the studio's approval, or its "
                          "deposit (it waits for approval until the deposit, or the full "
                          "price without one, is paid or authorized, which confirms it)")


class CalendarItemOut(Schema):
    kind: Literal["booking", "hold", "blackout"]
    start_at: datetime
    end_at: datetime
    blocked_from: datetime | None = None
    blocked_to: datetime | None = None
    label: str
    booking_code: str | None = None
    status: str | None = None
    is_conflict: bool = False


class CalendarLaneOut(Schema):
    id: int
    name: str
    items: list[CalendarItemOut]


class CalendarOut(Schema):
    time_zone: str
    group_by: str
    lanes: list[CalendarLaneOut]


class RoomIn(Schema):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""
    capacity: Annotated[int, Field(ge=1, le=1000)] = 1
    tags: list[Annotated[str, Field(max_length=40)]] = []
    equipment: list[Annotated[str, Field(max_length=120)]] = []
    color: Annotated[str, Field(max_length=16)] = ""
    is_active: bool = True


class ServiceIn(Schema):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""
    default_duration_minutes: Minutes = 60
    min_duration_minutes: Minutes = 60
    max_duration_minutes: Minutes = 480
    duration_step_minutes: Minutes = 60
    price_unit: Literal["hour", "session"] = "hour"
    base_price_minor: Annotated[int, Field(ge=0, le=10**9, alias="base_price_cents")] = 0
    requires_room: bool = True
    room_tags: list[Annotated[str, Field(max_length=40)]] = []
    requires_engineer: bool = False
    staff_skill_required: Annotated[str, Field(max_length=64)] = ""
    requires_approval: bool = False
    deposit_percent: Annotated[int, Field(ge=0, le=100)] = 0
    is_add_on: bool = False
    is_active: bool = True


class StaffIn(Schema):
    email: EmailStr
    display_name: Annotated[str, Field(min_length=1, max_length=150)]
    skills: list[Annotated[str, Field(max_length=64)]] = []
    hourly_rate_minor: Annotated[int, Field(ge=0, le=10**8, alias="hourly_rate_cents")] = 0
    role: Literal["staff", "admin"] = "staff"


class StaffUpdateIn(Schema):
    display_name: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    skills: list[Annotated[str, Field(max_length=64)]] | None = None
    hourly_rate_minor: int | None = Field(None, ge=0, le=10**8, alias="hourly_rate_cents")
    is_active: bool | None = None


class ScheduleRuleIn(Schema):
    target_type: Literal["studio", "room", "staff"]
    room_id: int | None = None
    staff_id: int | None = None
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)]
    start_time: WallTime
    end_time: WallTime
    effective_from: LocalDate | None = None
    effective_to: LocalDate | None = None


class ScheduleRuleOut(Schema):
    id: int
    target_type: str
    room_id: int | None
    staff_id: int | None
    weekdays: list[int]
    start_time: time
    end_time: time
    effective_from: Date | None
    effective_to: Date | None


class BlackoutIn(Schema):
    target_type: Literal["studio", "room", "staff"]
    room_id: int | None = None
    staff_id: int | None = None
    start_at: Instant
    end_at: Instant
    reason: Annotated[str, Field(max_length=200)] = ""


class BlackoutOut(Schema):
    id: int
    target_type: str
    room_id: int | None
    staff_id: int | None
    start_at: datetime
    end_at: datetime
    reason: str


class BufferIn(Schema):
    scope: Literal["room", "service", "staff"]
    room_id: int | None = None
    service_id: int | None = None
    staff_id: int | None = None
    before_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    after_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0


class BufferOut(BufferIn):
    id: int
