"""The statistics dashboard (机制三 统计分析) as staff read it: the overview of server.care.stats
with labels in place of codes, and the series its charts draw — needs, services and volunteer hours
per week, ratings by score, and for a district or the city each station side by side.

Every series is one SQL aggregate (GROUP BY in the database), whatever the number of rows. Weeks
are calendar weeks in Weihai, Monday to Sunday; a period's first and last week may be partial.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from tortoise.expressions import RawSQL, Subquery
from tortoise.functions import Count, Sum

from models import District, Need, Service, ServiceCategory, Station, Task
from server import labels, sql
from server.care import stats
from server.clock import CHINA_TZ
from server.errors import NotFound
from server.points import ledger

DEFAULT_WEEKS = 8
RATING_SCORES = (1, 2, 3, 4, 5)

# Weihai's clock is UTC+8 all year (China has kept no summer time since 1991), so a stored UTC
# moment's local date is a fixed shift of it, which both SQL dialects can compute in the query.
_LOCAL_HOURS = int(datetime(2026, 1, 1, tzinfo=CHINA_TZ).utcoffset().total_seconds() // 3600)


def local_days(*, first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of ``first`` to the end of ``last``, whole days in Weihai, as UTC moments
    (the end excluded): a need registered at 23:30 on ``last`` is in, one at 00:00 after is not."""
    start = datetime.combine(first, time.min, CHINA_TZ)
    end = datetime.combine(last + timedelta(days=1), time.min, CHINA_TZ)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def local_today(now: datetime) -> date:
    return now.astimezone(CHINA_TZ).date()


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def default_days(*, today: date, weeks: int = DEFAULT_WEEKS) -> tuple[date, date]:
    """The last ``weeks`` calendar weeks, this one included: from a Monday to ``today``."""
    return monday(today) - timedelta(weeks=weeks - 1), today


def _week_of(column: str) -> RawSQL:
    """The Monday of the local calendar week the moment in ``column`` falls in, as a date. The text
    holds no value from outside: only a column name of ours and the fixed offset."""
    if sql.dialect() == "sqlite":
        # 'weekday 1' moves forward to the next Monday unless the day is one: six days back first.
        return RawSQL(f"date({column}, '+{_LOCAL_HOURS} hours', '-6 days', 'weekday 1')")
    local = f"({column} + INTERVAL {_LOCAL_HOURS} HOUR)"
    return RawSQL(f"(DATE{local} - INTERVAL WEEKDAY{local} DAY)")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


async def scope_choices(*, district_id: int | None = None) -> list[dict[str, Any]]:
    """Every district with its stations, by name (or one district's): what an administrator may
    look at."""
    stations: dict[int, list[dict[str, Any]]] = {}
    districts = District.all() if district_id is None else District.filter(id=district_id)
    for s in await Station.all().order_by("name").values("id", "name", "district_id"):
        stations.setdefault(s["district_id"], []).append({"id": s["id"], "name": s["name"]})
    return [{"id": d["id"], "name": d["name"], "stations": stations.get(d["id"], [])}
            for d in await districts.order_by("code").values("id", "name")]


async def _place(scope: str, scope_id: int | None) -> tuple[str, list[dict[str, Any]]]:
    """The name of what is looked at, and the stations in it that are compared (none for one station)."""
    if scope == "city":
        return "全市", await Station.all().order_by("id").values("id", "name")
    if scope == "district":
        district = await District.get_or_none(id=scope_id)
        if district is None:
            raise NotFound("区县不存在")
        return district.name, await Station.filter(district_id=scope_id).order_by("id").values("id", "name")
    station = await Station.get_or_none(id=scope_id)
    if station is None:
        raise NotFound("驿站不存在")
    return station.name, []


def _labelled(counts: dict[str, int], names: dict[str, str]) -> list[dict[str, Any]]:
    """``counts`` by code as rows of label and count, most first."""
    return [{"code": code, "label": names.get(code, code), "n": n}
            for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


# A dashboard computed is kept while nothing it counts has moved: the newest workflow event (every
# need, task and claim change writes one, ratings too) and the newest points entry. Staff reload the
# page all day; a station's figures are some twenty statements, and they change far less often.
_KEPT: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}
_KEPT_MAX = 1000
_MOVED = "SELECT (SELECT MAX(id) FROM workflow_events) AS events, (SELECT MAX(id) FROM points_entries) AS points"


async def station_ids(scope: str, scope_id: int | None) -> list[int] | None:
    """The stations a scope covers (None: the city, all of them)."""
    if scope == "city":
        return None
    if scope == "district":
        return list(await Station.filter(district_id=scope_id).values_list("id", flat=True))
    return [scope_id]


async def dashboard(*, scope: str, scope_id: int | None, start: datetime, end: datetime) -> dict[str, Any]:
    """The overview of ``scope`` over [start, end) and the series of its charts, labelled; computed
    again only when a workflow event or a points entry has been written since it last was."""
    key = (scope, scope_id, start, end)
    moved = tuple((await sql.rows(_MOVED))[0].values())
    kept = _KEPT.get(key)
    if kept is not None and kept[0] == moved:
        return kept[1]
    result = await _dashboard(scope=scope, scope_id=scope_id, start=start, end=end)
    if len(_KEPT) >= _KEPT_MAX:
        _KEPT.clear()
    _KEPT[key] = (moved, result)
    return result


def forget() -> None:
    """Drop every kept dashboard (data changed behind the app's back: a restore, a test's reset)."""
    _KEPT.clear()


async def _dashboard(*, scope: str, scope_id: int | None, start: datetime, end: datetime) -> dict[str, Any]:
    name, compared = await _place(scope, scope_id)
    station_ids = [scope_id] if scope == "station" else [s["id"] for s in compared]
    overview = await stats.overview(scope=scope, scope_id=scope_id, start=start, end=end)

    needs = Need.filter(created_at__gte=start, created_at__lt=end)
    claims = ledger.counted_claims().filter(confirmed_at__gte=start, confirmed_at__lt=end)
    if scope != "city":
        needs = needs.filter(station_id__in=station_ids)
        # The scope's tasks as a subquery, not a list of their ids (thousands, for a district).
        claims = claims.filter(task_id__in=Subquery(Task.filter(station_id__in=station_ids).values("id")))

    need_weeks = {_as_date(r["week"]): r["n"] for r in await needs.annotate(week=_week_of("created_at"), n=Count("id"))
                  .group_by("week").values("week", "n")}
    service_weeks = {_as_date(r["week"]): r for r in await claims.annotate(
        week=_week_of("confirmed_at"), n=Count("task_id", distinct=True), minutes=Sum("verified_minutes"))
        .group_by("week").values("week", "n", "minutes")}
    last_day = (end - timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
    first_day = start.astimezone(CHINA_TZ).date()
    weeks = []
    week = monday(first_day)
    while week <= last_day:
        served = service_weeks.get(week, {})
        weeks.append({"start": max(week, first_day), "end": min(week + timedelta(days=6), last_day),
                      "needs": need_weeks.get(week, 0), "services": served.get("n") or 0,
                      "hours": round((served.get("minutes") or 0) / 60, 1)})
        week += timedelta(weeks=1)

    by_score = dict(await needs.filter(rating_score__isnull=False).annotate(n=Count("id"))
                    .group_by("rating_score").values_list("rating_score", "n"))
    ratings = [{"score": s, "n": by_score.get(s, 0)} for s in RATING_SCORES]

    by_need = overview["needs"]
    service_names = dict(await Service.filter(code__in=list(by_need["by_service"])).values_list("code", "name"))
    category_names = dict(await ServiceCategory.filter(code__in=list(by_need["by_category"]))
                          .values_list("code", "name"))
    households = overview["households_served_by_category"]

    return {
        "scope": scope, "scope_id": scope_id, "name": name, "overview": overview,
        "completed": sum(n for status, n in by_need["by_status"].items() if status in ("completed", "closed")),
        "volunteer_hours": round(overview["volunteer_minutes"] / 60, 1),
        "by_status": _labelled(by_need["by_status"], labels.NEED_STATUS),
        "by_source": _labelled(by_need["by_source"], labels.NEED_SOURCE),
        "by_service": _labelled(by_need["by_service"], service_names),
        "by_category": _labelled(by_need["by_category"], category_names),
        "households": [{"label": c, "n": n} for c, n in sorted(households.items(), key=lambda i: (-i[1], i[0]))],
        "weeks": weeks,
        "ratings": ratings,
        "stations": await _compare(compared, overview, needs, claims) if scope != "station" else [],
    }


async def _compare(compared: list[dict[str, Any]], overview: dict[str, Any], needs, claims) -> list[dict[str, Any]]:
    """Each station of a district or the city side by side, ranked by services delivered, then by
    average rating; every station is listed, those with nothing in the period too."""
    counted = {r["station_id"]: r for r in overview["stations"]}
    served = {r["task__station_id"]: r for r in await claims.annotate(
        n=Count("task_id", distinct=True), minutes=Sum("verified_minutes"))
        .group_by("task__station_id").values("task__station_id", "n", "minutes")}
    # Sum / count rather than AVG: the ORM casts AVG of an integer column back to an integer.
    rated = {r["station_id"]: r for r in await needs.filter(rating_score__isnull=False)
             .annotate(n=Count("id"), total=Sum("rating_score")).group_by("station_id")
             .values("station_id", "n", "total")}
    rows = []
    for s in compared:
        c, v, r = counted.get(s["id"], {}), served.get(s["id"], {}), rated.get(s["id"], {})
        rows.append({"id": s["id"], "name": s["name"], "needs": c.get("needs", 0), "completed": c.get("completed", 0),
                     "services": v.get("n") or 0, "hours": round((v.get("minutes") or 0) / 60, 1),
                     "rated": r.get("n") or 0,
                     "rating": round(int(r["total"]) / r["n"], 2) if r.get("n") else None})
    rows.sort(key=lambda row: (-row["services"], -(row["rating"] or 0), -row["needs"], row["name"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows
