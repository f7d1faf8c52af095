"""Request and response shapes of needs, tasks, uploads, referrals to organisations and departments,
pairings and neighbour helpers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from handlers.common import CursorPage, Id, Items, LatLng, Name, NeedOut, OneLine, Patch, Strict, UtcDatetime
from handlers.reference.schemas import StationPhone

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
    resident_id: Id | None = Field(None, description="workers: the household reported on behalf (代报)")
    source: Literal["self", "worker", "grid_worker", "visit", "hotline", "assessment"] | None = None


# The cursor and limit of CursorQuery, restated last: they come after the filters in the
# documented query parameters, and a base class's fields would come first.
class NeedListQuery(Strict):
    status: Literal["submitted", "accepted", "dispatched", "in_service", "completed", "closed", "rejected", "cancelled"] | None = None
    service_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    urgency: Literal["normal", "urgent"] | None = None
    created_from: UtcDatetime | None = None
    created_to: UtcDatetime | None = None
    follow_up: bool | None = None
    cursor: Id | None = None
    limit: int = Field(20, ge=1, le=100)


class NeedPage(CursorPage[NeedOut]):
    pass


class FollowUpIn(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="what the follow-up (回访) found and did")


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


DeliveryWay = Literal["volunteer", "purchased", "social_org", "department", "neighbour", "charity"]


class TaskIn(Strict):
    service_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    scheduled_start: UtcDatetime
    scheduled_end: UtcDatetime
    volunteers_needed: int = Field(1, ge=1, le=20)
    points: int | None = Field(None, ge=0, le=1000)
    notes_for_volunteer: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    delivery_way: DeliveryWay = Field("volunteer", description="how it is delivered (服务方式); volunteers by default")


class DeliveryWayIn(Strict):
    delivery_way: DeliveryWay


class TaskStationOut(BaseModel):
    name: str
    phone: str | None = Field(description="the station's public number; null when none was given")


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
    station: TaskStationOut | None = Field(None, description=(
        "the claimant (while the claim is live, as the contact) and workers: the station to call about the task"))
    min_minutes: int | None = Field(None, description="workers only: the service's minimum duration")
    short_service: bool | None = Field(None, description=(
        "workers only: a submitted record is shorter than min_minutes (each claim says which, with its"
        " recorded_minutes); confirming it needs a reason"))


class OpenTasksQuery(LatLng):
    radius_km: float | None = Field(None, gt=0, le=100)
    service_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: int = Field(50, ge=1, le=100)


class TaskList(Items[TaskOut]):
    pass


# Restates CursorQuery's cursor and limit after its filter, as NeedListQuery does.
class StationTasksQuery(Strict):
    status: Literal["open", "referred", "claimed", "checked_in", "submitted", "confirmed", "cancelled",
                    "expired"] | None = None
    cursor: Id | None = None
    limit: int = Field(20, ge=1, le=100)


class TaskPage(CursorPage[TaskOut]):
    pass


class CheckInIn(LatLng):
    scene: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None


class RecordIn(Strict):
    started_at: UtcDatetime
    ended_at: UtcDatetime
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    photos: list[Id] = Field(default_factory=list, max_length=9)


class ConfirmIn(Strict):
    minutes: int | None = Field(None, ge=1, le=24 * 60)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(None, description=(
        "why a service shorter than its minimum is confirmed anyway; required then"
        " (422 SHORT_SERVICE_REASON_REQUIRED)"))


# No reason here: a service shorter than its minimum is confirmed on its own, with its own reason
# (the bulk answer names it SHORT_SERVICE_REASON_REQUIRED), not under one reason typed for many.
class BulkConfirmIn(Strict):
    # The minutes apply to every task named.
    minutes: int | None = Field(None, ge=1, le=24 * 60)
    ids: list[Id] = Field(min_length=1, max_length=100)


class BulkConfirmOut(BaseModel):
    results: list[dict]


class UploadOut(BaseModel):
    id: int
    content_type: str
    size: int


# --- referrals to organisations --------------------------------------------------------------


class ReferIn(Strict):
    organization_id: Id


class ReferralAcceptIn(Strict):
    # One of the organisation's approved volunteers for each open slot of the task (server/workflow/referrals.py).
    assignee_user_ids: list[Id] = Field(min_length=1, max_length=20)


class Qualification(Strict):
    kind: Literal["legal_capacity", "staff", "facilities", "finance"]
    document: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    expires_at: UtcDatetime


class OrganizationPatch(Patch):
    services: list[Annotated[str, StringConstraints(max_length=40)]] | None = Field(None, max_length=40)
    station_ids: list[Id] | None = Field(None, max_length=200)
    qualifications: list[Qualification] | None = Field(None, max_length=20)


# --- pairings ------------------------------------------------------------------------------


class PairingSchedule(Strict):
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7,
                                                               description="ISO weekdays, 1 = Monday")
    start_time: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")] = Field(description="Weihai local time")
    minutes: int = Field(ge=15, le=480)
    every_weeks: int = Field(1, ge=1, le=4)


class PairingIn(Strict):
    need_id: Id
    volunteer_id: Id | None = None
    organization_id: Id | None = None
    schedule: PairingSchedule
    starts_on: date
    ends_on: date | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = None
    points: int | None = Field(None, ge=0, le=1000)
    notes_for_volunteer: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class PairingListQuery(Strict):
    status: Literal["active", "ended"] | None = None


# --- 部门联动 (departments) and 邻里互助 (neighbour helpers) --------------------------------------------

ServiceCodes = list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]]
DepartmentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), OneLine]
SlaHours = Annotated[int, Field(ge=1, le=24 * 30)]


class DepartmentIn(Strict):
    name: DepartmentName
    district_id: Id | None = Field(None, description="the district it serves; null: the whole city")
    contact_person: Name
    contact_phone: StationPhone = Field(description=(
        "its office number, as a station's: a landline with its area code, a 400/800 number or a mobile; "
        "kept as 0631-5200000, 400-123-4567, 138-0631-0000"))
    sla_hours: SlaHours | None = Field(None, description=(
        "hours it commits to answering a referral in; the default of config/deadlines.json when left out"))
    services: ServiceCodes = Field(default_factory=list, max_length=40, description="catalogue codes it handles")
    active: bool = True

    @field_validator("contact_phone", mode="after")
    @classmethod
    def _phone_given(cls, value: str | None) -> str:
        if not value:
            raise ValueError("请填写联系电话")
        return value


class DepartmentPatch(Patch):
    NULLABLE = frozenset({"district_id"})

    name: DepartmentName | None = None
    district_id: Id | None = None
    contact_person: Name | None = None
    contact_phone: StationPhone | None = Field(None, description="as in DepartmentIn")
    sla_hours: SlaHours | None = None
    services: ServiceCodes | None = Field(None, max_length=40)
    active: bool | None = None


class DepartmentListQuery(Strict):
    active: bool | None = None


class DepartmentReferIn(Strict):
    department_id: Id
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        "", description="what the station asked of the department, for its own record")


class DepartmentAnswerIn(Strict):
    outcome: Literal["served", "returned"] = Field(description=(
        "served: the department gave the service (the task is done, no volunteer, no points); "
        "returned: it will not, the task is open again"))
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    served_at: UtcDatetime | None = Field(None, description="when the department served; required with served")


class DepartmentReferralQuery(Strict):
    status: Literal["pending", "served", "returned", "withdrawn"] | None = None


class NeighbourTieIn(Strict):
    volunteer_id: Id = Field(description="an approved volunteer of the household's station")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), OneLine] = Field(
        "", description="how they are related to the household: 同楼邻居, 老同事…")


class NeighbourDispatchIn(Strict):
    volunteer_id: Id = Field(description="one of the household's neighbour helpers")
