"""Request and response shapes of points accounts and rules, the leaderboard, rewards and credit batches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from handlers.common import CursorPage, Id, OneLine, Patch, Strict, UtcDatetime

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


class EntryPage(CursorPage[EntryOut]):
    pass


class ReversalIn(Strict):
    entry_id: Id
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


class AdjustmentIn(Strict):
    user_id: Id
    amount: int = Field(ge=-100000, le=100000)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

    @field_validator("amount")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("调整积分不能为0")
        return value


# --- rewards -----------------------------------------------------------------------------


def _image_url(value: str) -> str | None:
    """An https address of a picture (what the mini-program's image loads); empty clears it."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        fine = parts.scheme.lower() == "https" and bool(parts.hostname) and not any(c.isspace() for c in value)
    except ValueError:  # an address urlsplit cannot read (a broken [IPv6] host)
        fine = False
    if not fine:
        raise ValueError("请填写以 https:// 开头的图片网址")
    return value


def _blank_is_none(value: str) -> str | None:
    return value or None


ImageUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_image_url)]
PickupPlace = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), OneLine,
                        AfterValidator(_blank_is_none)]


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
    pickup_station_ids: list[Id] = Field(default_factory=list, max_length=50)
    pickup_place: PickupPlace | None = Field(None, description="where and when to pick it up, as volunteers read it")
    image_url: ImageUrl | None = Field(None, description="a picture of the reward (https)")


class RewardPatch(Patch):
    NULLABLE = frozenset({"pickup_place", "image_url"})

    add_stock: int | None = Field(None, ge=-100000, le=100000)
    status: Literal["active", "retired"] | None = None
    pickup_place: PickupPlace | None = Field(None, description="null or empty clears it")
    image_url: ImageUrl | None = Field(None, description="null or empty clears it")


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
    pickup_place: str | None
    image_url: str | None
    status: str


class PickupStationOut(BaseModel):
    id: int
    name: str
    address: str
    phone: str | None


class RedeemedRewardOut(BaseModel):
    """What a volunteer needs to recognise and fetch what they redeemed."""

    id: int
    name: str
    image_url: str | None
    pickup_place: str | None
    pickup_stations: list[PickupStationOut] = Field(
        description="the stations that hand it over; empty: any station")


class RedemptionOut(BaseModel):
    id: int
    reward_id: int
    reward: RedeemedRewardOut
    points: int
    status: str
    status_label: str = Field(description="the status in words (待领取, 已领取, 已取消, 已过期)")
    pickup_code: str
    expires_at: datetime
    fulfilled_at: datetime | None
    created_at: datetime


class FulfilIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=8)]


# --- credit --------------------------------------------------------------------------------


class CreditBatchOut(BaseModel):
    batch_id: int | None
    count: int
    increments: list[dict]
