"""Request and response shapes of sign-in, the caller's own account, residents and volunteers."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from config.data import HOUSEHOLD_CATEGORIES
from handlers.common import Code, Id, LatLng, ListQuery, Name, OneLine, Short, Strict, Text, TotalPage
from server import pii
from server.text import for_matching


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


_MOBILE = re.compile(r"1[3-9]\d{9}")


def _display_name(value: str | None) -> str | None:
    if not value:
        return None  # empty clears it, as null does: the masked real name again
    # Shown to the whole city: a phone number in it would publish it (the volunteer's own, or an
    # advertisement's), whatever digits it is written in or broken up by.
    if _MOBILE.search(re.sub(r"\D", "", for_matching(value))):
        raise ValueError("昵称中不能包含手机号")
    return value


# A volunteer's display name (昵称): one line, up to 12 characters.
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=12), OneLine]


def _known_categories(value: list[str]) -> list[str]:
    unknown = [c for c in value if c not in HOUSEHOLD_CATEGORIES]
    if unknown:
        raise ValueError(f"未知的困难类别: {'、'.join(unknown[:5])}")
    return list(dict.fromkeys(value))


# --- auth and me ---------------------------------------------------------------------------


class WechatCodeIn(Strict):
    # A one-time code from the mini-program (wx.login, getPhoneNumber).
    code: Code


class LoginIn(WechatCodeIn):
    pass


class PhoneCodeIn(WechatCodeIn):
    pass


class UserOut(BaseModel):
    id: int
    roles: list[str]
    station_id: int | None = None
    organization_id: int | None = None
    district_id: int | None = Field(None, description="the district a district administrator keeps")
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
    notice: str | None = Field(None, description="after saving one's own profile: what to tell the person "
                                                 "(the same whatever else is on the register)")


class VolunteerOut(BaseModel):
    id: int
    user_id: int
    station_id: int
    name: str
    display_name: str | None = Field(description="the name chosen to be shown on the leaderboards (昵称); "
                                                 "null: they show the masked name")
    phone: str | None
    id_number: str | None = Field(None, description="masked")
    skills: list[str]
    status: str
    reject_reason: str | None
    reviewed_at: datetime | None


class MeOut(UserOut):
    resident: ResidentOut | None
    volunteer: VolunteerOut | None


class NearbyIn(LatLng):
    radius_km: float | None = Field(None, gt=0, le=50, description="null turns the alerts off")

    @model_validator(mode="after")
    def _place(self) -> NearbyIn:
        if self.radius_km is not None and (self.lat is None or self.lng is None):
            raise ValueError("开启附近任务提醒需要位置")
        return self


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
    station_id: Id
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
    station_id: Id
    display_name: DisplayName | None = Field(None, description=(
        "昵称 shown on the leaderboards instead of the masked name, 1-12 characters, checked by WeChat's "
        "content check (refused unless clean); left out: unchanged; null or empty: cleared. Changing it "
        "does not send the application back to review"))

    _phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))
    _id_number = field_validator("id_number")(classmethod(lambda cls, v: _id_number(v)))
    _display_name = field_validator("display_name")(classmethod(lambda cls, v: _display_name(v)))

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


class ResidentPage(TotalPage[ResidentOut]):
    pass


class VolunteerPage(TotalPage[VolunteerOut]):
    pass


class IdentityCaseOut(BaseModel):
    """One ID number named by two profiles: the holder's and a newcomer's, side by side (masked)."""

    id: int
    status: Literal["open", "settled"]
    outcome: Literal["holder_keeps", "claimant_takes", "withdrawn"] | None
    note: str | None
    station_id: int = Field(description="the holder's station, which settles the case (the claimant's when "
                                        "no one holds the number any more)")
    claimant_station_id: int
    created_at: datetime
    settled_at: datetime | None
    holder: ResidentOut | None = Field(description="who holds the number (open) or held it (settled)")
    claimant: ResidentOut


class IdentityCaseList(BaseModel):
    items: list[IdentityCaseOut]


class IdentityCaseQuery(Strict):
    status: Literal["open", "settled"] | None = None


class SettleCaseIn(Strict):
    outcome: Literal["holder_keeps", "claimant_takes"] = Field(
        description="holder_keeps: the newcomer's profile loses the number; claimant_takes: the number moves to it")
    note: Short | None = None


# --- roster imports (台账导入) ----------------------------------------------------------------


class ImportQuery(Strict):
    dry_run: bool = Field(True, description="check every row and change nothing (the default)")


class ImportRowError(BaseModel):
    row: int = Field(description="the row's number in the sheet, as Excel shows it")
    field: str = Field(description="the column's header")
    code: str
    message: str


class ImportReport(BaseModel):
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]


# --- exit (退出) -------------------------------------------------------------------------------


class ExitIn(Strict):
    reason: Literal["moved_away", "deceased", "not_eligible", "own_request", "other"] = Field(
        description="moved_away 迁出本辖区 | deceased 去世 | not_eligible 不再符合救助条件 | own_request 本人申请退出 | other 其他")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None

    @model_validator(mode="after")
    def _other_says_why(self) -> ExitIn:
        if self.reason == "other" and not self.note:
            raise ValueError("选择“其他”时请填写说明")
        return self


class ExitOut(BaseModel):
    id: int
    status: str
    exit_reason: str | None
    exit_note: str | None
    exited_at: datetime | None
