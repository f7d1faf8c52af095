"""Request and response shapes of the public API (pydantic v2).

Every request model forbids unknown fields: a body that tries to set ``roles``, ``status`` or
``user_id`` is refused with a 400 rather than silently ignored (mass assignment). String lengths
are bounded so one request cannot fill a column or a log.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from config.data import HOUSEHOLD_CATEGORIES
from server import pii
from server.clock import CHINA_TZ

def _to_utc(value: datetime) -> datetime:
    # A time that is not a date in UTC or in Weihai (0001-01-01 at +08:00, 9999-12-31 late in UTC,
    # which ledgers and messages show in Weihai time) is a payload error, not an OverflowError.
    try:
        utc = value.astimezone(timezone.utc)
        utc.astimezone(CHINA_TZ)
    except OverflowError:
        raise ValueError("时间超出范围") from None
    return utc


# Times come in with any offset (the mini-program sends +08:00) and are kept in UTC from here on.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Patch(Strict):
    """A partial update: a field left out is unchanged; sent as null it is cleared, which only the
    fields in ``NULLABLE`` allow (the others would break a NOT NULL column: 400, not 500)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("不能为空;不修改请省略该字段")
        return value


def _phone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return pii.normalize_phone(value)
    except ValueError:
        raise ValueError("手机号应为11位大陆手机号") from None


def _id_number(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return pii.normalize_id_number(value)
    except ValueError:
        raise ValueError("身份证号无效(请检查位数、出生日期和校验位)") from None


# --- auth and me ---------------------------------------------------------------------------


class LoginIn(Strict):
    code: Code


class PhoneCodeIn(Strict):
    code: Code


class UserOut(BaseModel):
    id: int
    roles: list[str]
    station_id: int | None = None
    organization_id: int | None = None
    phone: str | None = Field(None, description="masked")


class LoginOut(BaseModel):
    token: str
    expires_in: int
    user: UserOut


class ResidentOut(BaseModel):
    id: int
    masked: bool
    station_id: int
    name: str
    id_number: str | None
    phone: str | None
    community: str | None
    address: str | None
    lat: float | None
    lng: float | None
    categories: list[str] = Field(description="checked by the station: what statistics and policy matching count")
    declared_categories: list[str] | None = Field(
        None, description="what the household said of itself, awaiting the station's check; null when none waits")
    health_notes: str | None
    has_health_notes: bool
    gender: str | None
    age: int | None
    guardian_name: str | None
    guardian_phone: str | None
    guardian_relation: str | None
    guardian_consent_at: datetime | None
    entered_on_behalf: bool
    has_account: bool
    created_at: datetime
    updated_at: datetime


class VolunteerOut(BaseModel):
    id: int
    user_id: int
    station_id: int
    name: str
    phone: str | None
    id_number: str | None = Field(None, description="masked")
    skills: list[str]
    status: str
    reject_reason: str | None
    reviewed_at: datetime | None


class MeOut(UserOut):
    resident: ResidentOut | None
    volunteer: VolunteerOut | None


# --- profiles ------------------------------------------------------------------------------


class ResidentIn(Strict):
    name: Name
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    birth_date: date | None = Field(None, description="only when there is no ID number")
    phone: Annotated[str, StringConstraints(max_length=20)] | None = None
    community: Short | None = Field(None, description="community/village level, shown unmasked")
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    lat: float | None = Field(None, ge=-90, le=90, description="GCJ-02")
    lng: float | None = Field(None, ge=-180, le=180, description="GCJ-02")
    station_id: int = Field(gt=0)
    categories: list[str] = Field(default_factory=list, max_length=16,
                                  description="a household's own are kept as declared until the station checks them")
    health_notes: Text | None = None
    guardian_name: Name | None = None
    guardian_phone: Annotated[str, StringConstraints(max_length=20)] | None = None
    guardian_relation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    guardian_consent: bool = False

    _id_number = field_validator("id_number")(classmethod(lambda cls, v: _id_number(v)))

    _phones = field_validator("phone", "guardian_phone")(classmethod(lambda cls, v: _phone(v)))

    _categories = field_validator("categories")(classmethod(lambda cls, v: _known_categories(v)))

    @model_validator(mode="after")
    def _pairs(self) -> ResidentIn:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("经纬度须同时提供")
        return self


class VolunteerIn(Strict):
    name: Name
    phone: Annotated[str, StringConstraints(max_length=20)]
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = Field(
        None, description="optional: lets verified hours count toward the 海贝分 credit score")
    skills: list[Annotated[str, StringConstraints(max_length=40)]] = Field(default_factory=list, max_length=20)
    station_id: int = Field(gt=0)

    _phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))
    _id_number = field_validator("id_number")(classmethod(lambda cls, v: _id_number(v)))

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        # Whether each code names a service is the catalogue's call (server.reference.catalogue).
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _phone_required(self) -> VolunteerIn:
        if not self.phone:
            raise ValueError("请填写手机号")
        return self


class RejectIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ListQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


def _known_categories(value: list[str]) -> list[str]:
    unknown = [c for c in value if c not in HOUSEHOLD_CATEGORIES]
    if unknown:
        raise ValueError(f"未知的困难类别: {'、'.join(unknown[:5])}")
    return list(dict.fromkeys(value))


class CategoriesIn(Strict):
    """The household's categories as the station checked them (against the civil-affairs records)."""

    categories: list[str] = Field(max_length=16)

    _categories = field_validator("categories")(classmethod(lambda cls, v: _known_categories(v)))


class ResidentListQuery(ListQuery):
    category: Annotated[str, StringConstraints(max_length=20)] | None = None
    declared: bool = Field(False, description="only households whose declared categories await a check")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = Field(
        None, description="name prefix, e.g. 王"
    )


class VolunteerListQuery(ListQuery):
    status: Literal["pending", "approved", "rejected"] | None = None


class ResidentPage(BaseModel):
    items: list[ResidentOut]
    total: int


class VolunteerPage(BaseModel):
    items: list[VolunteerOut]
    total: int


# --- places and staff ----------------------------------------------------------------------


class DistrictIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z_-]{1,12}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class DistrictPatch(Patch):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None


class DistrictOut(BaseModel):
    id: int
    code: str
    name: str


class StationIn(Strict):
    district_id: int = Field(gt=0)
    name: Short
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


class StationPatch(Patch):
    NULLABLE = frozenset({"phone", "lat", "lng"})

    name: Short | None = None
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


class StationOut(BaseModel):
    id: int
    district_id: int
    district_name: str | None = None
    name: str
    town: str
    address: str
    phone: str | None
    lat: float | None
    lng: float | None


class OrganizationIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: Literal["social_organization", "community_enterprise", "social_work_agency", "charity", "other"]
    district_id: int | None = Field(None, gt=0)


class OrganizationOut(BaseModel):
    id: int
    name: str
    kind: str
    district_id: int | None


class StaffIn(Strict):
    user_id: int = Field(gt=0)
    role: Literal["worker", "org_staff"]
    station_id: int | None = Field(None, gt=0)
    organization_id: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _binding(self) -> StaffIn:
        if self.role == "worker" and (self.station_id is None or self.organization_id is not None):
            raise ValueError("社区工作者须且只能绑定一个驿站 (station_id)")
        if self.role == "org_staff" and (self.organization_id is None or self.station_id is not None):
            raise ValueError("机构人员须且只能绑定一个机构 (organization_id)")
        return self


class StaffRemoveIn(Strict):
    user_id: int = Field(gt=0)
    role: Literal["worker", "org_staff"]


class StaffOut(BaseModel):
    user_id: int
    role: str
    station_id: int | None
    organization_id: int | None


class Ok(BaseModel):
    ok: bool = True


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    db: bool
    redis: bool
    # This process is subscribed to the change feed, so its caches are in use (server/feed.py).
    change_feed: bool


# --- service catalogue -------------------------------------------------------------------


CheckinPolicy = Literal["plate_or_location", "plate", "location", "plate_and_location"]


class ServiceOut(BaseModel):
    code: str
    name: str
    category_code: str
    category_name: str | None
    description: str
    default_minutes: int
    points_per_hour: int
    requires_skill: bool
    professional: bool
    checkin_policy: str
    status: str


class ServiceIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]{1,39}$")]
    category_code: Annotated[str, StringConstraints(max_length=20)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    default_minutes: int = Field(60, ge=5, le=24 * 60)
    points_per_hour: int = Field(10, ge=0, le=1000)
    requires_skill: bool = False
    professional: bool = False
    checkin_policy: CheckinPolicy = "plate_or_location"


class ServicePatch(Patch):
    category_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    default_minutes: int | None = Field(None, ge=5, le=24 * 60)
    points_per_hour: int | None = Field(None, ge=0, le=1000)
    requires_skill: bool | None = None
    professional: bool | None = None
    checkin_policy: CheckinPolicy | None = None
    status: Literal["active", "retired"] | None = None


class CatalogQuery(Strict):
    include_retired: bool = False


# --- needs ---------------------------------------------------------------------------------


class Place(Strict):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class NeedIn(Strict):
    service_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    urgency: Literal["normal", "urgent"] = "normal"
    window_start: UtcDatetime | None = None
    window_end: UtcDatetime | None = None
    location: Place | None = None
    resident_id: int | None = Field(None, gt=0, description="workers: the household reported on behalf (代报)")
    source: Literal["self", "worker", "grid_worker", "visit", "hotline", "assessment"] | None = None


class NeedOut(BaseModel):
    id: int
    resident_id: int
    resident_name: str | None
    station_id: int
    service_code: str
    service_name: str | None
    description: str
    urgency: str
    window_start: datetime | None
    window_end: datetime | None
    location: dict | None
    source: str
    on_behalf: bool
    status: str
    status_reason: str | None
    rating: dict | None
    follow_up: bool
    created_at: datetime
    updated_at: datetime


class NeedListQuery(Strict):
    status: Literal["submitted", "accepted", "dispatched", "in_service", "completed", "closed", "rejected", "cancelled"] | None = None
    service_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    urgency: Literal["normal", "urgent"] | None = None
    created_from: UtcDatetime | None = None
    created_to: UtcDatetime | None = None
    follow_up: bool | None = None
    cursor: int | None = Field(None, gt=0)
    limit: int = Field(20, ge=1, le=100)


class NeedPage(BaseModel):
    items: list[NeedOut]
    next_cursor: int | None


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class RatingIn(Strict):
    score: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    would_use_again: bool


class TimelineEntry(BaseModel):
    subject: str
    task_id: int | None
    claim_id: int | None
    actor_id: int | None
    actor_role: str
    to: str
    reason: str | None
    at: datetime


class Timeline(BaseModel):
    need: NeedOut
    events: list[TimelineEntry]


# --- tasks ---------------------------------------------------------------------------------


class TaskIn(Strict):
    service_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    scheduled_start: UtcDatetime
    scheduled_end: UtcDatetime
    volunteers_needed: int = Field(1, ge=1, le=20)
    points: int | None = Field(None, ge=0, le=1000)
    notes_for_volunteer: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class TaskOut(BaseModel):
    id: int
    service_code: str
    service_name: str | None
    title: str
    scheduled_start: datetime
    scheduled_end: datetime
    volunteers_needed: int
    slots_left: int
    points: int
    community: str | None
    approx_location: dict | None
    status: str
    need_id: int | None = None
    claims: list[dict] | None = None
    location: dict | None = Field(None, description="claimant only: the exact place, for navigation")
    contact: dict | None = None


class OpenTasksQuery(Strict):
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    radius_km: float | None = Field(None, gt=0, le=100)
    service_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: int = Field(50, ge=1, le=100)


class TaskList(BaseModel):
    items: list[TaskOut]


class StationTasksQuery(Strict):
    status: Literal["open", "referred", "claimed", "checked_in", "submitted", "confirmed", "cancelled",
                    "expired"] | None = None
    cursor: int | None = Field(None, gt=0)
    limit: int = Field(20, ge=1, le=100)


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: int | None


class CheckInIn(Strict):
    scene: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


class RecordIn(Strict):
    started_at: UtcDatetime
    ended_at: UtcDatetime
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    photos: list[int] = Field(default_factory=list, max_length=9)


class ConfirmIn(Strict):
    minutes: int | None = Field(None, ge=1, le=24 * 60)


class BulkConfirmIn(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=100)
    minutes: int | None = Field(None, ge=1, le=24 * 60)


class BulkConfirmOut(BaseModel):
    results: list[dict]


class UploadOut(BaseModel):
    id: int
    content_type: str
    size: int


# --- points ------------------------------------------------------------------------------


class AccountOut(BaseModel):
    user_id: int
    balance: int
    earned: int
    spent: int
    owed: int
    verified_minutes: int
    verified_hours: float


class EntryOut(BaseModel):
    id: int
    amount: int
    kind: str
    ref_type: str | None
    ref_id: int | None
    reason: str | None
    minutes: int
    balance_after: int
    created_at: datetime


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: int | None


class CursorQuery(Strict):
    cursor: int | None = Field(None, gt=0)
    limit: int = Field(20, ge=1, le=100)


class ReversalIn(Strict):
    entry_id: int = Field(gt=0)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PointsRulesIn(Strict):
    points_per_hour: dict[Annotated[str, StringConstraints(max_length=40)], Annotated[int, Field(ge=0, le=1000)]] = Field(
        default_factory=dict, max_length=200)
    min_per_service: int = Field(ge=0, le=1000)
    urgent_bonus: int = Field(ge=0, le=1000)
    first_service_bonus: int = Field(ge=0, le=1000)
    daily_cap: int | None = Field(None, ge=0, le=100000)
    redemption_expiry_days: int = Field(14, ge=1, le=365)


class LeaderboardQuery(Strict):
    scope: Literal["station", "district", "city"] = "city"
    period: Literal["month", "all"] = "month"
    metric: Literal["points", "hours"] = "points"
    limit: int = Field(20, ge=1, le=100)


class LeaderboardOut(BaseModel):
    scope: str
    scope_id: int
    period: str
    metric: str
    items: list[dict]
    me: dict | None


# --- rewards -----------------------------------------------------------------------------


class RewardIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    donor: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    donor_kind: Literal["enterprise", "unit", "individual", "organization"] = "enterprise"
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    price: int = Field(ge=1, le=100000)
    stock: int = Field(ge=0, le=100000)
    per_person_limit: int = Field(1, ge=1, le=100)
    valid_from: UtcDatetime
    valid_until: UtcDatetime
    pickup_station_ids: list[int] = Field(default_factory=list, max_length=50)


class RewardPatch(Patch):
    add_stock: int | None = Field(None, ge=-100000, le=100000)
    status: Literal["active", "retired"] | None = None


class RewardOut(BaseModel):
    id: int
    name: str
    donor: str
    donor_kind: str
    description: str
    price: int
    stock: int
    per_person_limit: int
    valid_from: datetime
    valid_until: datetime
    pickup_station_ids: list[int]
    status: str


class RedemptionOut(BaseModel):
    id: int
    reward_id: int
    points: int
    status: str
    pickup_code: str
    expires_at: datetime
    fulfilled_at: datetime | None
    created_at: datetime


class FulfilIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=8)]


class CreditBatchOut(BaseModel):
    batch_id: int | None
    count: int
    increments: list[dict]


class AdjustmentIn(Strict):
    user_id: int = Field(gt=0)
    amount: int = Field(ge=-100000, le=100000)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

    @field_validator("amount")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("调整积分不能为0")
        return value


# --- notifications -------------------------------------------------------------------------


class SubscriptionsIn(Strict):
    accepted: list[Annotated[str, StringConstraints(max_length=80)]] = Field(default_factory=list, max_length=20)
    rejected: list[Annotated[str, StringConstraints(max_length=80)]] = Field(default_factory=list, max_length=20)


class InboxOut(BaseModel):
    items: list[dict]
    next_cursor: int | None
    unread: int


class ReadIn(Strict):
    ids: list[int] = Field(default_factory=list, max_length=200)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> ReadIn:
        if not self.all and not self.ids:
            raise ValueError("请指定 ids 或 all")
        return self


class RetryIn(Strict):
    ids: list[int] = Field(min_length=1, max_length=500)


class NearbyIn(Strict):
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    radius_km: float | None = Field(None, gt=0, le=50, description="null turns the alerts off")

    @model_validator(mode="after")
    def _place(self) -> NearbyIn:
        if self.radius_km is not None and (self.lat is None or self.lng is None):
            raise ValueError("开启附近任务提醒需要位置")
        return self


# --- assessment ----------------------------------------------------------------------------


class AssessmentIn(Strict):
    answers: dict[Annotated[str, StringConstraints(max_length=40)], Any] = Field(max_length=100)
    visited_at: UtcDatetime
    visit_notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class AssessmentOut(BaseModel):
    id: int
    resident_id: int
    version: int
    answers: dict
    scores: dict
    overall: float
    level: str
    visited_at: datetime
    visit_notes: str | None
    assessor_id: int


class RankingQuery(Strict):
    dimension: Annotated[str, StringConstraints(max_length=20)] | None = None


class WorksheetQuery(Strict):
    unmasked: bool = False


class ScopeRankingQuery(Strict):
    dimension: Annotated[str, StringConstraints(max_length=20)] | None = None
    limit: int = Field(50, ge=1, le=500, description="how many of the most difficult households to list")


class RecommendedNeedIn(Strict):
    rule: Annotated[str, StringConstraints(max_length=40)]
    service_code: Annotated[str, StringConstraints(max_length=40)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None


# A questionnaire is published once and then scores every visit: what would fail at scoring time
# (a level without a floor, an option without a score) is refused here, when the admin can fix it.
# Item scores are 0–1 like the shipped config/questionnaire.json (module docstring of
# server.care.assessments); infinities and NaN are refused (no JSON column can hold them).


class QuestionnaireLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: Annotated[str, StringConstraints(min_length=1, max_length=10)]  # Assessment.level is 10 characters
    min: float = Field(le=100, description="lowest overall score (0–100) of this level")


class QuestionnaireOption(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    value: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    label: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    score: float = Field(ge=0, le=1)


class QuestionnaireBracket(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    max: float = Field(description="answers up to and including this value get this bracket's score")
    score: float = Field(ge=0, le=1)


class QuestionnaireItem(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    type: Literal["single", "multi", "number", "bool"]
    label: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    weight: float = Field(gt=0, le=100)
    options: list[QuestionnaireOption] | None = Field(None, min_length=1, max_length=30)
    brackets: list[QuestionnaireBracket] | None = Field(None, min_length=1, max_length=30)
    min: float | None = None
    max: float | None = None
    yes: float | None = Field(None, ge=0, le=1)
    no: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _shape(self) -> QuestionnaireItem:
        need = {"single": "options", "multi": "options", "number": "brackets", "bool": "yes"}[self.type]
        if getattr(self, need) is None or (self.type == "bool" and self.no is None):
            raise ValueError(f"item {self.id}: type {self.type} needs {need}")
        return self

    @field_validator("options")
    @classmethod
    def _distinct_values(cls, options: list[QuestionnaireOption] | None) -> list[QuestionnaireOption] | None:
        values = [o.value for o in options or []]
        if len(set(values)) < len(values):
            raise ValueError("选项的 value 不能重复")
        return options

    @field_validator("brackets")
    @classmethod
    def _ascending(cls, brackets: list[QuestionnaireBracket] | None) -> list[QuestionnaireBracket] | None:
        # Scoring takes the first bracket whose max the answer does not exceed.
        tops = [b.max for b in brackets or []]
        if any(a >= b for a, b in zip(tops, tops[1:])):
            raise ValueError("分段的 max 须从小到大排列且不重复")
        return brackets


class QuestionnaireDimension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,19}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    weight: float = Field(gt=0, le=100)
    items: list[QuestionnaireItem] = Field(min_length=1, max_length=50)


class QuestionnaireIn(Strict):
    levels: list[QuestionnaireLevel] = Field(min_length=1, max_length=10)
    dimensions: list[QuestionnaireDimension] = Field(min_length=1, max_length=12)
    source: str | None = None

    @field_validator("levels")
    @classmethod
    def _floor(cls, levels: list[QuestionnaireLevel]) -> list[QuestionnaireLevel]:
        # Every household gets a level: scores run from 0, so one level must start at 0 or below.
        if not any(lvl.min <= 0 for lvl in levels):
            raise ValueError("须有一个 min 不大于 0 的最低等级,否则低分家庭无等级可评")
        names = [lvl.name for lvl in levels]
        if len(set(names)) < len(names):
            raise ValueError("等级名称不能重复")
        return levels

    @field_validator("dimensions")
    @classmethod
    def _distinct_ids(cls, dimensions: list[QuestionnaireDimension]) -> list[QuestionnaireDimension]:
        # Scores are keyed by dimension id and answers by item id across the whole questionnaire.
        for kind, ids in (("指标类别", [d.id for d in dimensions]),
                          ("题目", [i.id for d in dimensions for i in d.items])):
            repeated = sorted({x for x in ids if ids.count(x) > 1})
            if repeated:
                raise ValueError(f"{kind} id 重复: {', '.join(repeated)}")
        return dimensions


class PolicyIn(Strict):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    issuer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: Literal["government_policy", "charity_project", "social_org_project"]
    summary: Annotated[str, StringConstraints(max_length=1000)] = ""
    benefits: Annotated[str, StringConstraints(max_length=1000)] = ""
    eligibility: dict
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    contact: Annotated[str, StringConstraints(max_length=100)] = ""
    source_url: Annotated[str, StringConstraints(max_length=300)] = ""
    status: Literal["active", "retired"] = "active"


class ReferralIn(Strict):
    policy_id: int = Field(gt=0)
    outcome: Literal["referred", "approved", "declined", "not_eligible"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


class StatsQuery(Strict):
    scope: Literal["station", "district", "city"] = "station"
    id: int | None = Field(None, gt=0, description="station or district id (admins); workers get their station")
    start: UtcDatetime = Field(alias="from")
    end: UtcDatetime = Field(alias="to")

    @model_validator(mode="after")
    def _range(self) -> StatsQuery:
        if self.end <= self.start:
            raise ValueError("to 须晚于 from")
        if (self.end - self.start).days > 366:
            raise ValueError("统计区间不能超过一年")
        return self


class ReferIn(Strict):
    organization_id: int = Field(gt=0)


class ReferralAcceptIn(Strict):
    # One of the organisation's approved volunteers for each open slot of the task (services/referrals.py).
    assignee_user_ids: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, max_length=20)


class Qualification(Strict):
    kind: Literal["legal_capacity", "staff", "facilities", "finance"]
    document: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    expires_at: UtcDatetime


class OrganizationPatch(Patch):
    services: list[Annotated[str, StringConstraints(max_length=40)]] | None = Field(None, max_length=40)
    station_ids: list[int] | None = Field(None, max_length=200)
    qualifications: list[Qualification] | None = Field(None, max_length=20)


class ProjectIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    organization_id: int = Field(gt=0)
    budget_fen: int = Field(ge=0, le=10**12)
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    services: list[Annotated[str, StringConstraints(max_length=40)]] = Field(min_length=1, max_length=40)
    station_ids: list[int] = Field(min_length=1, max_length=200)


class ProjectStepIn(Strict):
    to: Literal["approved", "in_progress", "acceptance_pending", "accepted", "failed"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    documents: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list, max_length=20)


class LedgerQuery(Strict):
    start: UtcDatetime = Field(alias="from")
    end: UtcDatetime = Field(alias="to")
    station_id: int | None = Field(None, gt=0, description="admins; workers get their own station")
    unmasked: bool = False

    @model_validator(mode="after")
    def _range(self) -> LedgerQuery:
        if self.end <= self.start:
            raise ValueError("to 须晚于 from")
        return self


class PairingSchedule(Strict):
    weekdays: list[int] = Field(min_length=1, max_length=7, description="ISO weekdays, 1 = Monday")
    start_time: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")] = Field(description="Weihai local time")
    minutes: int = Field(ge=15, le=480)
    every_weeks: int = Field(1, ge=1, le=4)


class PairingIn(Strict):
    need_id: int = Field(gt=0)
    volunteer_id: int | None = Field(None, gt=0)
    organization_id: int | None = Field(None, gt=0)
    schedule: PairingSchedule
    starts_on: date
    ends_on: date | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = None
    points: int | None = Field(None, ge=0, le=1000)
    notes_for_volunteer: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class PairingListQuery(Strict):
    status: Literal["active", "ended"] | None = None
