"""Needs assessment (任务六): score a home visit against a questionnaire version, rank a station's
households by difficulty within each indicator class (困难指标分类排名), recommend services.

Scoring: each item gives 0–1 (an option's score, a bracket's score, yes/no, multi-choice summed and
capped at 1); a dimension is the weight-averaged item score × 100; the overall score is the
weight-averaged dimension score. Levels come from the questionnaire's thresholds.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from config.data import QUESTIONNAIRE, RECOMMENDATION_RULES
from models import Assessment, District, QuestionnaireVersion, ResidentProfile, Station
from server import audit, sql
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.pii import FieldCipher, mask_name
from server.care import reassessment
from server.workflow import needs

NOTES_CONTEXT = "assessment.visit_notes"
# How far a visit's time may run ahead of the server's clock: a worker's phone is often a minute or
# two fast. Beyond this a visit is future-dated, and since "latest" means latest visited_at it would
# stand in for every real visit in the ranking, the recommendations and the worksheet's 上次评估.
VISIT_CLOCK_SKEW = timedelta(minutes=5)
# Versions a publish tries past the newest it can see before giving up (each try is one insert).
PUBLISH_ATTEMPTS = 20


class OwnAssessment(Forbidden):
    code = "OWN_ASSESSMENT"
    message = "不能评估本人家庭,请由驿站其他工作人员入户评估"


class AssessmentDuplicate(Conflict):
    code = "ASSESSMENT_DUPLICATE"
    message = "该次入户调查已记录,请勿重复提交"


class PublishBusy(Conflict):
    code = "QUESTIONNAIRE_PUBLISH_BUSY"
    message = "问卷正在被同时发布,请稍后重试"


async def current() -> dict[str, Any]:
    """The questionnaire in force: the newest published version, else the shipped default."""
    row = await QuestionnaireVersion.all().order_by("-version").first()
    return row.spec if row else QUESTIONNAIRE


async def versions() -> list[QuestionnaireVersion]:
    """Every published questionnaire version, newest first."""
    return await QuestionnaireVersion.all().order_by("-version")


async def spec_for(version: int) -> dict[str, Any]:
    if version == QUESTIONNAIRE["version"] and not await QuestionnaireVersion.exists(version=version):
        return QUESTIONNAIRE
    row = await QuestionnaireVersion.get_or_none(version=version)
    if row is None:
        raise NotFound("问卷版本不存在")
    return row.spec


def _item_score(item: dict[str, Any], answer: Any) -> float:
    kind = item["type"]
    if kind == "single":
        return next(o["score"] for o in item["options"] if o["value"] == answer)
    if kind == "multi":
        scores = {o["value"]: o["score"] for o in item["options"]}
        return min(1.0, sum(scores[a] for a in answer))
    if kind == "bool":
        return item["yes"] if answer else item["no"]
    for bracket in item["brackets"]:
        if answer <= bracket["max"]:
            return bracket["score"]
    return item["brackets"][-1]["score"]


def check_answers(spec: dict[str, Any], answers: dict[str, Any]) -> None:
    """Every item answered with a value its type allows; unknown items refused. Names them all."""
    problems = []
    items = {i["id"]: i for d in spec["dimensions"] for i in d["items"]}
    for key in answers:
        if key not in items:
            problems.append({"field": f"answers.{key}", "type": "unknown_item"})
    for key, item in items.items():
        if key not in answers:
            problems.append({"field": f"answers.{key}", "type": "missing"})
            continue
        value, kind = answers[key], item["type"]
        values = {o["value"] for o in item.get("options", [])}
        ok = (
            # Option values are strings: anything else (a list, an object) is no option, and is
            # not hashed to find out (it would raise).
            (kind == "single" and isinstance(value, str) and value in values)
            or (kind == "multi" and isinstance(value, list) and all(isinstance(v, str) for v in value)
                and set(value) <= values and len(set(value)) == len(value))
            or (kind == "bool" and isinstance(value, bool))
            # Finite only: JSON as Python reads it lets Infinity and NaN in, and the JSON column
            # would keep them as null (an unbounded item would otherwise take them).
            or (kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and item.get("min", float("-inf")) <= value <= item.get("max", float("inf")))
        )
        if not ok:
            problems.append({"field": f"answers.{key}", "type": f"invalid_{kind}"})
    if problems:
        raise ValidationFailed("问卷答案与问卷版本不符", details=problems)


def score(spec: dict[str, Any], answers: dict[str, Any]) -> tuple[dict[str, float], float, str]:
    """Scores per dimension (0–100), overall score, difficulty level."""
    dims: dict[str, float] = {}
    for d in spec["dimensions"]:
        weight = sum(i["weight"] for i in d["items"])
        dims[d["id"]] = round(100 * sum(i["weight"] * _item_score(i, answers[i["id"]]) for i in d["items"]) / weight, 2)
    total_weight = sum(d["weight"] for d in spec["dimensions"])
    overall = round(sum(d["weight"] * dims[d["id"]] for d in spec["dimensions"]) / total_weight, 2)
    return dims, overall, _level(spec["levels"], overall)


def _level(levels: list[dict[str, Any]], overall: float) -> str:
    """The highest level whose floor the score reaches, whatever order the levels are listed in.
    Publishing requires a floor (min <= 0); a version stored before that check may lack one, and
    its lowest scores take its lowest level rather than failing every visit."""
    reached = [lvl for lvl in levels if overall >= lvl["min"]]
    if not reached:
        return min(levels, key=lambda lvl: lvl["min"])["name"]
    return max(reached, key=lambda lvl: lvl["min"])["name"]


def check_visited_at(*, visited_at: datetime, now: datetime) -> None:
    """A home visit (二(六) 入户调查) is recorded after it happened, not before."""
    if visited_at > now + VISIT_CLOCK_SKEW:
        raise ValidationFailed("入户调查时间不能晚于当前时间", details=[{"field": "visited_at", "type": "in_future"}])


async def record(*, resident: ResidentProfile, answers: dict[str, Any], visited_at: datetime, visit_notes: str | None,
                 assessor_id: int, cipher: FieldCipher, now: datetime) -> Assessment:
    """Score and keep one home visit under the questionnaire in force; the same visit sent again
    (household, time of visit, assessor: a retried save) is refused, naming the one kept."""
    if resident.user_id is not None and resident.user_id == assessor_id:
        # The score ranks the household for help and matches it to policies: nobody scores their own.
        raise OwnAssessment()
    check_visited_at(visited_at=visited_at, now=now)
    spec = await current()
    check_answers(spec, answers)
    dims, overall, level = score(spec, answers)
    # Saves of one household's visits queue on its row; the reads after are locking reads, which see
    # what the one before committed (this transaction's snapshot was fixed by an earlier plain read).
    await ResidentProfile.select_for_update().get(id=resident.id)
    same = await Assessment.select_for_update().filter(resident_id=resident.id, visited_at=visited_at,
                                                       assessor_id=assessor_id).first()
    if same is not None:
        raise AssessmentDuplicate(details={"assessment_id": same.id})
    return await Assessment.create(
        resident_id=resident.id, station_id=resident.station_id, version=spec["version"], answers=answers,
        scores=dims, overall=overall, level=level, visited_at=visited_at,
        visit_notes_enc=cipher.encrypt_optional(visit_notes or None, context=NOTES_CONTEXT), assessor_id=assessor_id,
        due_at=reassessment.due_after(visited_at, level),
    )


_SCORES = sql.Statement(lambda: (
    f"SELECT {sql.columns(Assessment, 'a', only=('id', 'version', 'scores', 'overall', 'level', 'visited_at'))}"
    " FROM assessments a WHERE a.resident_id = %s ORDER BY a.visited_at DESC, a.id DESC LIMIT 50"))


async def scores(*, resident_id: int) -> list[Assessment]:
    """A household's assessments, newest first, with their scores only (no answers, no notes):
    what its page charts and lists."""
    return [sql.hydrate(Assessment, row) for row in await sql.rows(_SCORES, [resident_id])]


async def history(*, resident_id: int) -> list[Assessment]:
    return await Assessment.filter(resident_id=resident_id).order_by("-visited_at", "-id")


async def history_read(*, resident: ResidentProfile, with_notes: bool, actor_id: int,
                       cipher: FieldCipher) -> list[dict[str, Any]]:
    """A household's visits, newest first, presented; visit notes (health and family details, kept
    encrypted) only ``with_notes``, and a read of any leaves an audit row (PIPL art. 51)."""
    rows = await history(resident_id=resident.id)
    if with_notes and any(a.visit_notes_enc for a in rows):
        await audit.record(actor_id=actor_id, action="assessment.read_notes", subject_type="resident",
                           subject_id=resident.id, fields=["visit_notes"])
    return [present(a, cipher=cipher, with_notes=with_notes) for a in rows]


def present(a: Assessment, *, cipher: FieldCipher, with_notes: bool = True) -> dict[str, Any]:
    notes = cipher.decrypt_optional(a.visit_notes_enc, context=NOTES_CONTEXT) if with_notes else None
    return {"id": a.id, "resident_id": a.resident_id, "version": a.version, "answers": a.answers, "scores": a.scores,
            "overall": a.overall, "level": a.level, "visited_at": a.visited_at, "visit_notes": notes,
            "assessor_id": a.assessor_id}


async def ranking(*, station_id: int, dimension: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Households of a station by their latest assessment, most difficult first; ties by household
    id (stable); households never assessed listed apart."""
    spec = await current()
    if dimension is not None and dimension not in {d["id"] for d in spec["dimensions"]}:
        raise ValidationFailed("未知的指标类别", details=[{"field": "dimension", "type": "unknown_dimension"}])
    households = await ResidentProfile.filter(station_id=station_id, status="active").order_by("id")
    latest: dict[int, Assessment] = {}
    # By the household's station now, not the one that made the visit: a household that moved
    # brings its latest visit (as its history, worksheet and recommendations do).
    for a in await Assessment.filter(resident__station_id=station_id).order_by("visited_at", "id"):
        latest[a.resident_id] = a  # later visits overwrite earlier ones
    ranked, unassessed = [], []
    for h in households:
        a = latest.get(h.id)
        if a is None:
            unassessed.append({"resident_id": h.id, "name": mask_name(h.name)})
            continue
        value = a.overall if dimension is None else a.scores.get(dimension, 0.0)
        ranked.append({"resident_id": h.id, "name": mask_name(h.name), "score": value, "level": a.level,
                       "assessed_at": a.visited_at, "categories": h.categories, "due_at": a.due_at,
                       # An overdue re-assessment (动态管理): the score may no longer describe the household.
                       "stale": now is not None and a.due_at is not None and a.due_at <= now})
    ranked.sort(key=lambda r: (-r["score"], r["resident_id"]))
    _rank(ranked, key="score")
    return {"station_id": station_id, "dimension": dimension or "overall", "items": ranked, "unassessed": unassessed}


async def households_at_level(*, station_id: int, level: str) -> list[int]:
    """The station's households whose latest assessment put them at ``level`` (特别困难…)."""
    return [rid for rid, a in (await _latest_by_household([station_id])).items() if a["level"] == level]


async def _latest_by_household(station_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The latest assessment of each household of these stations now (later visit, then later id)."""
    rows = await Assessment.filter(resident__station_id__in=station_ids or [0]).order_by("visited_at", "id").values(
        "resident_id", "station_id", "overall", "scores", "level", "visited_at")
    return {r["resident_id"]: r for r in rows}  # later visits overwrite earlier ones


async def ranking_across(*, district_id: int | None, dimension: str | None, limit: int) -> dict[str, Any]:
    """District (``district_id``) or city (None) view for administrators: each station's households
    summarised — how many, how many assessed, their mean score and level counts — stations ranked
    by mean score (most difficult first, ties by station id, stations with no assessment last), and
    the ``limit`` most difficult households across them with their station."""
    if district_id is not None and not await District.exists(id=district_id):
        raise NotFound("区县不存在")
    spec = await current()
    if dimension is not None and dimension not in {d["id"] for d in spec["dimensions"]}:
        raise ValidationFailed("未知的指标类别", details=[{"field": "dimension", "type": "unknown_dimension"}])
    stations_qs = Station.all() if district_id is None else Station.filter(district_id=district_id)
    stations = await stations_qs.order_by("id").values("id", "name")
    station_ids = [s["id"] for s in stations]
    households = await ResidentProfile.filter(station_id__in=station_ids or [0], status="active").values_list(
        "id", "station_id", "name")
    latest = await _latest_by_household(station_ids)
    per_station: dict[int, dict[str, Any]] = {
        s["id"]: {"station_id": s["id"], "name": s["name"], "households": 0, "assessed": 0, "levels": {}, "_sum": 0.0}
        for s in stations
    }
    top = []
    for resident_id, station_id, name in households:
        row = per_station[station_id]
        row["households"] += 1
        a = latest.get(resident_id)
        if a is None:
            continue
        value = a["overall"] if dimension is None else (a["scores"] or {}).get(dimension, 0.0)
        row["assessed"] += 1
        row["_sum"] += value
        row["levels"][a["level"]] = row["levels"].get(a["level"], 0) + 1
        top.append({"resident_id": resident_id, "station_id": station_id, "name": mask_name(name), "score": value,
                    "level": a["level"], "assessed_at": a["visited_at"]})
    summary = []
    for row in per_station.values():
        total = row.pop("_sum")
        row["unassessed"] = row["households"] - row["assessed"]
        row["average_score"] = round(total / row["assessed"], 2) if row["assessed"] else None
        summary.append(row)
    summary.sort(key=lambda r: (r["average_score"] is None, -(r["average_score"] or 0), r["station_id"]))
    _rank(summary, key="average_score")
    top.sort(key=lambda r: (-r["score"], r["resident_id"]))
    top = top[:limit]
    _rank(top, key="score")
    return {"scope": "city" if district_id is None else "district", "district_id": district_id,
            "dimension": dimension or "overall", "stations": summary, "households": top}


def _rank(rows: list[dict[str, Any]], *, key: str) -> None:
    """Competition ranks over rows already sorted: equal values share a rank (1, 2, 2, 4)."""
    rank, previous = 0, object()
    for i, row in enumerate(rows, start=1):
        if row[key] != previous:
            rank, previous = i, row[key]
        row["rank"] = rank if row[key] is not None else None


def _fires(rule: dict[str, Any], *, categories: list[str], answers: dict[str, Any] | None) -> bool:
    when = rule["when"]
    if "categories_any" in when and not set(when["categories_any"]) & set(categories):
        return False
    if "categories_all" in when and not set(when["categories_all"]) <= set(categories):
        return False
    for item, wanted in (when.get("answers") or {}).items():
        if answers is None or item not in answers:
            return False
        value = answers[item]
        if isinstance(wanted, dict):
            # A bound holds only for a number: under a later questionnaire version the item may be
            # a choice, and the answer then meets no bound (rather than failing every request).
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if "max" in wanted and not value <= wanted["max"]:
                return False
            if "min" in wanted and not value >= wanted["min"]:
                return False
        elif value not in wanted:
            return False
    return True


async def recommendations(*, resident: ResidentProfile) -> list[dict[str, Any]]:
    """Services the rules recommend for a household, each with the rule and reason that fired."""
    latest = await Assessment.filter(resident_id=resident.id).order_by("-visited_at", "-id").first()
    answers = latest.answers if latest else None
    return [
        {"rule": r["id"], "reason": r["reason"], "services": r["services"]}
        for r in RECOMMENDATION_RULES
        if _fires(r, categories=list(resident.categories or []), answers=answers)
    ]


async def need_from_recommendation(*, actor, resident: ResidentProfile, rule: str, service_code: str,
                                   description: str | None, cipher: FieldCipher, now: datetime, screened=None):
    """Turn a recommendation that fired for this household into a need (主动发现, source=assessment).
    ``screened``: the content check of the worker's own description, as for any need."""
    fired = {r["rule"]: r for r in await recommendations(resident=resident)}
    if rule not in fired or service_code not in fired[rule]["services"]:
        raise ValidationFailed("该推荐不适用于此家庭", details=[{"field": "rule", "type": "not_recommended"}])
    data = {"service_code": service_code, "resident_id": resident.id, "source": "assessment",
            "description": description or f"评估推荐:{fired[rule]['reason']}"}
    return await needs.create(actor=actor, resident=resident, on_behalf=True, data=data, cipher=cipher, now=now,
                              screened=screened)


async def publish(*, spec: dict[str, Any], actor_id: int) -> QuestionnaireVersion:
    """Publish a new questionnaire version; old assessments keep theirs. Concurrent publishes each
    get the next version, in turn."""
    latest = await QuestionnaireVersion.all().order_by("-version").first()
    version = max(latest.version if latest else 0, QUESTIONNAIRE["version"]) + 1
    for _ in range(PUBLISH_ATTEMPTS):
        # The unique version decides: another publish holding this number makes the insert wait for
        # it, then fail once it commits; this transaction's snapshot cannot see it, so count on.
        # (No locking read first: on an empty table two gap locks would deadlock the inserts.)
        try:
            return await QuestionnaireVersion.create(version=version, spec={**spec, "version": version},
                                                     created_by=actor_id)
        except IntegrityError:
            version += 1
    raise PublishBusy()
