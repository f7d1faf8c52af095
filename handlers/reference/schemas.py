"""Request and response shapes of districts, stations, organisations, staff and the service catalogue."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from handlers.common import Id, LatLng, Patch, Short, Strict
from server import pii

# --- places and staff ----------------------------------------------------------------------

# A landline as people write it: the area code (010 and 02x have three digits, every other one
# four), in brackets or not, the number (7-8 digits), and an extension after "-", "转" or "#".
_LANDLINE = re.compile(r"\(?(0(?:[12]\d|[3-9]\d{2}))\)?-?([2-9]\d{6,7})(?:(?:-|转|#)(\d{1,6}))?")
# A nationwide service number (400/800).
_SERVICE_NUMBER = re.compile(r"([48]00)-?(\d{3})-?(\d{4})")


def _station_phone(value: str | None) -> str | None:
    """A station's public number, written one way, in groups as it is read out and dialled: a
    landline as ``0631-5200000`` (``转`` and the extension after it), 400/800 numbers as
    ``400-123-4567``, a mobile (a duty phone) as ``138-0631-0000``. Empty clears it. (A person's
    phone is kept as its bare 11 digits, encrypted; a station's number is public, shown as is.)"""
    if not value:
        return None
    text = re.sub(r"[\s\u3000]+", "", value).replace("（", "(").replace("）", ")").replace("－", "-")
    landline = _LANDLINE.fullmatch(text)
    if landline:
        area, number, extension = landline.groups()
        return f"{area}-{number}" + (f"转{extension}" if extension else "")
    service = _SERVICE_NUMBER.fullmatch(text)
    if service:
        return "-".join(service.groups())
    try:
        mobile = pii.normalize_phone(text)
        return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    except ValueError:
        raise ValueError("电话格式不正确:请填写带区号的座机号(如 0631-5200000)或11位手机号") from None


StationPhone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), AfterValidator(_station_phone)]


class DistrictIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z_-]{1,12}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class DistrictPatch(Patch):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None


class DistrictOut(BaseModel):
    id: int
    code: str
    name: str


class StationIn(LatLng):
    district_id: Id
    name: Short
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    phone: StationPhone | None = Field(None, description=(
        "the station's public number, told to volunteers on the tasks they claim: a landline with its "
        "area code, a 400/800 number or a mobile; kept as 0631-5200000, 400-123-4567, 138-0631-0000"))


class StationPatch(Patch, LatLng):
    NULLABLE = frozenset({"phone", "lat", "lng"})

    name: Short | None = None
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    phone: StationPhone | None = Field(None, description="as in StationIn; null or empty clears it")


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
    district_id: Id | None = None


class OrganizationOut(BaseModel):
    id: int
    name: str
    kind: str
    district_id: int | None


class StaffRemoveIn(Strict):
    user_id: Id
    role: Literal["worker", "org_staff", "district_admin"]


class StaffIn(StaffRemoveIn):
    # The role to grant (StaffRemoveIn's fields) and the one place it binds to.
    station_id: Id | None = None
    organization_id: Id | None = None
    district_id: Id | None = None

    @model_validator(mode="after")
    def _binding(self) -> StaffIn:
        bound = {k for k in ("station_id", "organization_id", "district_id") if getattr(self, k) is not None}
        if self.role == "worker" and bound != {"station_id"}:
            raise ValueError("社区工作者须且只能绑定一个驿站 (station_id)")
        if self.role == "org_staff" and bound != {"organization_id"}:
            raise ValueError("机构人员须且只能绑定一个机构 (organization_id)")
        if self.role == "district_admin" and bound != {"district_id"}:
            raise ValueError("区市管理员须且只能绑定一个区市 (district_id)")
        return self


class StaffOut(BaseModel):
    user_id: int
    role: str
    station_id: int | None
    organization_id: int | None
    district_id: int | None = None


# --- service catalogue -------------------------------------------------------------------


CheckinPolicy = Literal["plate_or_location", "plate", "location", "plate_and_location"]


class ServiceOut(BaseModel):
    code: str
    name: str
    category_code: str
    category_name: str | None
    description: str
    default_minutes: int
    min_minutes: int
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
    min_minutes: int | None = Field(None, ge=0, le=24 * 60, description=(
        "shorter services are confirmed only with a reason; at most default_minutes, 0 for none;"
        " left out: 15, or default_minutes if shorter"))
    points_per_hour: int = Field(10, ge=0, le=1000)
    requires_skill: bool = False
    professional: bool = False
    checkin_policy: CheckinPolicy = "plate_or_location"


class ServicePatch(Patch):
    category_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    default_minutes: int | None = Field(None, ge=5, le=24 * 60)
    min_minutes: int | None = Field(None, ge=0, le=24 * 60, description="at most default_minutes, 0 for none")
    points_per_hour: int | None = Field(None, ge=0, le=1000)
    requires_skill: bool | None = None
    professional: bool | None = None
    checkin_policy: CheckinPolicy | None = None
    status: Literal["active", "retired"] | None = None


class CatalogQuery(Strict):
    include_retired: bool = False
    station_id: Id | None = Field(None, description="the services as the station's district offers them: its own "
                                                    "standards text and points, and none it does not offer")


class DistrictServiceIn(Strict):
    """A district's standard for one service; null keeps the city's (offered, with nothing of its
    own, is the city's service as it is)."""

    offered: bool = True
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    points_per_hour: int | None = Field(None, ge=0, le=1000)


class DistrictServiceOut(ServiceOut):
    offered: bool
    district_standard: bool
    city_description: str
    city_points_per_hour: int
