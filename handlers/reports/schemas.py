"""Request shapes of the Excel ledger exports."""

from __future__ import annotations

from pydantic import Field, model_validator

from handlers.common import Id, PeriodEnd, PeriodStart, Strict


# The period fields of care's StatsQuery, restated: here they come first among the documented
# query parameters, there last, and a shared base's fields would come first in both.
class LedgerQuery(Strict):
    start: PeriodStart = Field(alias="from", description="a local date (a whole day in Weihai) or a timestamp")
    end: PeriodEnd = Field(alias="to", description="a local date (included whole) or a timestamp (excluded)")
    station_id: Id | None = Field(None, description="admins; workers get their own station")
    unmasked: bool = False

    @model_validator(mode="after")
    def _range(self) -> LedgerQuery:
        if self.end <= self.start:
            raise ValueError("to 须晚于 from")
        return self
