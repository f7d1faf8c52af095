"""Schema pieces every domain shares (pydantic v2): field types, strict bases, paging and common shapes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator,
    model_validator,
)

from server.clock import CHINA_TZ
from server.http import MAX_ID
from server.text import clean

T = TypeVar("T")


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

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# "+08:00" sent unencoded in a query string arrives as " 08:00" (a plus is a space there).
_PLUS_AS_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def _period_bound(*, end: bool) -> Callable[[Any], Any]:
    """A period's bound as people write it: a local date (a whole day in Weihai: the start of the
    day, or for the end the start of the next, so ``to=2026-12-31`` includes the 31st), a local
    time without an offset, or a full timestamp with one (its plus sign may have come unencoded)."""

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if _DATE_ONLY.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError("请填写正确的日期,如 2026-12-01") from None
            if end:
                if day == date.max:
                    raise ValueError("时间超出范围")
                day += timedelta(days=1)
            return datetime.combine(day, time(), CHINA_TZ)
        plus = _PLUS_AS_SPACE.match(text)
        if plus:
            text = f"{plus[1]}+{plus[2]}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return text  # pydantic names what is wrong with it
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA_TZ)

    return read


# The bounds of a statistics or ledger period: [start, end), in UTC once read.
PeriodStart = Annotated[AwareDatetime, BeforeValidator(_period_bound(end=False)), AfterValidator(_to_utc)]
PeriodEnd = Annotated[AwareDatetime, BeforeValidator(_period_bound(end=True)), AfterValidator(_to_utc)]


def _one_line(value: Any) -> Any:
    return clean(value, multiline=False) if isinstance(value, str) else value


# Every string of a request is cleaned (``Strict`` below); a name, a label or a code is also one
# line: its line breaks and tabs become spaces before it is stripped and measured.
OneLine = BeforeValidator(_one_line)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), OneLine]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), OneLine]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), OneLine]


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value, multiline=True)
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {clean(k, multiline=False) if isinstance(k, str) else k: _cleaned(v) for k, v in value.items()}
    return value


# Every request model forbids unknown fields: a body that tries to set ``roles``, ``status`` or
# ``user_id`` is refused with a 400 rather than silently ignored (mass assignment). String lengths
# are bounded so one request cannot fill a column or a log.
#
# Every string in a request is cleaned before validation, nested ones and the keys of nested objects
# included (server/text.py): no control, bidi, zero-width or format character is stored, and NUL is
# dropped rather than refused. Line breaks and tabs stay, but in ``OneLine`` fields. A required
# field that cleaning empties is refused by its own ``min_length``. The body's own keys are left as
# sent: one with a hidden character is an unknown field (400).
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        return {k: _cleaned(v) for k, v in data.items()} if isinstance(data, dict) else data


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


class LatLng(Strict):
    """An optional point (stations, check-ins, nearby tasks and alerts); subclasses add their own fields."""

    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


# --- ids and paging ------------------------------------------------------------------------

# A row's id, in a body or a query string (a cursor is one too): what the database can hold
# (server.http.MAX_ID). A larger number would reach the driver, which cannot put it into SQL
# (OverflowError: a 500, not the 400 it is).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class ListQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class CursorQuery(Strict):
    cursor: Id | None = None
    limit: int = Field(20, ge=1, le=100)


class Items(BaseModel, Generic[T]):
    """A list response; a subclass names the item type (``class TaskList(Items[TaskOut])``)."""

    items: list[T]


class CursorPage(Items[T], Generic[T]):
    """One page of a cursor-paged list: ``next_cursor`` is null on the last page."""

    next_cursor: int | None


class TotalPage(Items[T], Generic[T]):
    """One page of an offset-paged list with the total count."""

    total: int


# --- shapes of several domains -------------------------------------------------------------


class Ok(BaseModel):
    ok: bool = True


class RejectIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


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


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    db: bool
    redis: bool
    # This process is subscribed to the change feed, so its caches are in use (server/feed.py).
    change_feed: bool
