"""Request and response shapes of household assessments, policies, projects and statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from handlers.common import Id, PeriodEnd, PeriodStart, Strict, UtcDatetime

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


class ScopeRankingQuery(RankingQuery):
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


# --- policies ------------------------------------------------------------------------------


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
    policy_id: Id
    outcome: Literal["referred", "approved", "declined", "not_eligible"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


# --- statistics ----------------------------------------------------------------------------


class StatsQuery(Strict):
    scope: Literal["station", "district", "city"] = "station"
    id: Id | None = Field(None, description="station or district id (admins); workers get their station")
    start: PeriodStart = Field(alias="from", description="a local date (a whole day in Weihai) or a timestamp")
    end: PeriodEnd = Field(alias="to", description="a local date (included whole) or a timestamp (excluded)")

    @model_validator(mode="after")
    def _range(self) -> StatsQuery:
        if self.end <= self.start:
            raise ValueError("to 须晚于 from")
        if (self.end - self.start).days > 366:
            raise ValueError("统计区间不能超过一年")
        return self


# --- projects ------------------------------------------------------------------------------


class ProjectIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    organization_id: Id
    budget_fen: int = Field(ge=0, le=10**12)
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    services: list[Annotated[str, StringConstraints(max_length=40)]] = Field(min_length=1, max_length=40)
    station_ids: list[Id] = Field(min_length=1, max_length=200)
    district_id: Id | None = Field(None, description="the district buying it (a district administrator's own, "
                                                     "whatever is given); none: a city project")


class ProjectStepIn(Strict):
    to: Literal["approved", "in_progress", "acceptance_pending", "accepted", "failed"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    documents: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list, max_length=20)
    targets: dict[Literal["tasks_done", "verified_hours", "on_time_rate", "average_rating", "referrals_accepted",
                          "complaints", "low_ratings"], Annotated[float, Field(ge=0, le=10**7)]] | None = Field(
        None, description="立项 only: KPI targets, e.g. {\"tasks_done\": 100, \"on_time_rate\": 0.9}")


class ProjectsQuery(Strict):
    status: Literal["proposed", "approved", "in_progress", "acceptance_pending", "accepted", "failed"] | None = None
    organization_id: Id | None = None
    station_id: Id | None = None
    offset: int = Field(0, ge=0, le=100_000)
    limit: int = Field(50, ge=1, le=200)


class PaymentIn(Strict):
    kind: Literal["advance", "final"]
    amount_fen: int = Field(gt=0, le=10**12)
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
