"""Request and response shapes of the inbox, subscription consent and delivery retries."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from handlers.common import CursorPage, Id, Strict


class SubscriptionsIn(Strict):
    accepted: list[Annotated[str, StringConstraints(max_length=80)]] = Field(default_factory=list, max_length=20)
    rejected: list[Annotated[str, StringConstraints(max_length=80)]] = Field(default_factory=list, max_length=20)


class InboxOut(CursorPage[dict]):
    unread: int


class ReadIn(Strict):
    ids: list[Id] = Field(default_factory=list, max_length=200)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> ReadIn:
        if not self.all and not self.ids:
            raise ValueError("请指定 ids 或 all")
        return self


class RetryIn(Strict):
    ids: list[Id] = Field(min_length=1, max_length=500)
