"""Re-assessment on a cycle (动态管理, 威民发〔2024〕27号 二(六)): each household's needs are assessed
again after an interval set by its difficulty level (config/reassessment.json: 特别困难 every 3
months, 较困难 6, 一般 12). The station sees who is due and overdue, is reminded a week before, and
an overdue assessment is marked stale wherever it ranks or counts a household.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from config.data import REASSESSMENT
from models import Assessment, ResidentProfile, UserRole
from server import sql
from server.clock import CHINA_TZ
from server.notifications import notify
from server.pii import mask_name

MONTHS: dict[str, int] = REASSESSMENT["months_by_level"]
REMIND_AHEAD = timedelta(days=REASSESSMENT["remind_days_before"])
DEFAULT_MONTHS = max(MONTHS.values())  # a level the config does not name: the longest interval


def due_after(visited_at: datetime, level: str) -> datetime:
    """When a visit at ``level`` falls due: the same day and hour ``months`` calendar months later in
    Weihai (the last day of a shorter month: a visit on 31 August is due on 30 November)."""
    local = visited_at.astimezone(CHINA_TZ)
    months = MONTHS.get(level, DEFAULT_MONTHS)
    month0 = local.month - 1 + months
    year, month = local.year + month0 // 12, month0 % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(visited_at.tzinfo)


STATE_LABELS = {"overdue": "已逾期", "due_soon": "一周内到期", "current": "未到期"}


async def revisited(*, assessments: list[Assessment]) -> set[int]:
    """Which of ``assessments`` a later visit of the same household has replaced (one statement)."""
    if not assessments:
        return set()
    later = {}
    for resident_id, visited_at in await Assessment.filter(resident_id__in={a.resident_id for a in assessments}) \
            .values_list("resident_id", "visited_at"):
        later[resident_id] = max(later.get(resident_id, visited_at), visited_at)
    return {a.id for a in assessments if later.get(a.resident_id, a.visited_at) > a.visited_at}


def state(due_at: datetime | None, now: datetime) -> str:
    """"overdue" once due, "due_soon" within the reminder's week, else "current"."""
    if due_at is None:
        return "current"
    if due_at <= now:
        return "overdue"
    return "due_soon" if due_at <= now + REMIND_AHEAD else "current"


async def _latest(station_id: int) -> dict[int, Assessment]:
    latest: dict[int, Assessment] = {}
    for a in await Assessment.filter(resident__station_id=station_id, resident__status="active") \
            .order_by("visited_at", "id").only("id", "resident_id", "level", "visited_at", "due_at", "assessor_id"):
        latest[a.resident_id] = a  # later visits overwrite earlier ones
    return latest


async def due_list(*, station_id: int, now: datetime) -> dict[str, Any]:
    """A station's households whose re-assessment is overdue or due within the week (most overdue
    first), and those never assessed."""
    latest = await _latest(station_id)
    households = {r.id: r for r in await ResidentProfile.filter(station_id=station_id, status="active")
                  .only("id", "name", "community")}
    due = []
    for resident_id, a in latest.items():
        s = state(a.due_at, now)
        if s != "current" and resident_id in households:
            h = households[resident_id]
            due.append({"resident_id": resident_id, "name": mask_name(h.name), "community": h.community,
                        "level": a.level, "visited_at": a.visited_at, "due_at": a.due_at, "state": s})
    due.sort(key=lambda d: (d["due_at"], d["resident_id"]))
    never = [{"resident_id": h.id, "name": mask_name(h.name), "community": h.community}
             for h in households.values() if h.id not in latest]
    return {"due": due, "overdue": sum(1 for d in due if d["state"] == "overdue"),
            "due_soon": sum(1 for d in due if d["state"] == "due_soon"), "never_assessed": never}


async def counts(*, station_ids: list[int] | None, now: datetime) -> dict[str, int]:
    """Overdue and due-within-the-week re-assessments across stations (None: the city): the latest
    visit of each active household only, counted in one statement (a city has tens of thousands)."""
    scope = "" if station_ids is None else f" AND r.station_id IN ({sql.placeholders(station_ids or [0])})"
    rows = await sql.rows(
        "SELECT SUM(CASE WHEN a.due_at <= %s THEN 1 ELSE 0 END) AS overdue,"
        " SUM(CASE WHEN a.due_at > %s AND a.due_at <= %s THEN 1 ELSE 0 END) AS due_soon"
        f" FROM {Assessment._meta.db_table} a JOIN {ResidentProfile._meta.db_table} r ON r.id = a.resident_id"
        " WHERE r.status = 'active'" + scope +
        f" AND NOT EXISTS (SELECT 1 FROM {Assessment._meta.db_table} b WHERE b.resident_id = a.resident_id"
        "  AND (b.visited_at > a.visited_at OR (b.visited_at = a.visited_at AND b.id > a.id)))",
        [now, now, now + REMIND_AHEAD, *(station_ids or [0] if station_ids is not None else [])])
    found = rows[0] if rows else {}
    return {"overdue": int(found.get("overdue") or 0), "due_soon": int(found.get("due_soon") or 0)}


async def remind(*, now: datetime) -> int:
    """Remind, once, of each household whose latest visit falls due within the week: the worker who
    made that visit, if still a worker of the household's station, else the station's workers
    (inbox and subscribe message, as every notification). Returns how many households."""
    reminded = 0
    candidates = await Assessment.filter(due_at__lte=now + REMIND_AHEAD, reminded_at__isnull=True,
                                         resident__status="active").select_related("resident")
    for a in candidates:
        if await Assessment.filter(resident_id=a.resident_id, visited_at__gt=a.visited_at).exists():
            # A later visit has replaced it: that one's due date is the one to remind of.
            await Assessment.filter(id=a.id, reminded_at__isnull=True).update(reminded_at=now)
            continue
        async with in_transaction():
            # Marked first, conditionally: two job runners at once remind once.
            if not await Assessment.filter(id=a.id, reminded_at__isnull=True).update(reminded_at=now):
                continue
            resident: ResidentProfile = a.resident
            ctx = {"resident_id": resident.id, "name": mask_name(resident.name), "due": a.due_at, "level": a.level}
            if await UserRole.exists(user_id=a.assessor_id, role="worker", station_id=resident.station_id):
                await notify.notify(user_id=a.assessor_id, event="reassessment_due", ctx=ctx, now=now)
            else:
                await notify.notify_station_workers(station_id=resident.station_id, event="reassessment_due",
                                                    ctx=ctx, now=now)
            reminded += 1
    return reminded
