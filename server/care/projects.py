"""Purchased-service projects (政府购买服务) supervised over their whole life (保障四: 立项、
中期实施、后期验收). KPIs are computed from the real task data, never typed in.

A project covers the tasks of its services at its stations scheduled within its period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from models import Need, Organization, Project, ProjectStep, Station, Task, TaskClaim
from server.care import complaints
from server.errors import NotFound, ValidationFailed
from server.points import ledger
from server.reference import catalogue
from server.workflow import events

# to: (allowed from, what the step is called)
STEPS = {
    "approved": (("proposed",), "立项"),
    "in_progress": (("approved",), "实施"),
    "acceptance_pending": (("in_progress",), "申请验收"),
    "accepted": (("acceptance_pending",), "验收通过"),
    "failed": (("in_progress", "acceptance_pending"), "验收不通过"),
}

STATUS_NAMES = {"proposed": "申报", **{to: name for to, (_, name) in STEPS.items()}}


async def create(*, data: dict[str, Any], actor_id: int, now: datetime) -> Project:
    if not await Organization.exists(id=data["organization_id"]):
        raise ValidationFailed("机构不存在", details=[{"field": "organization_id", "type": "unknown_reference"}])
    if data["ends_at"] <= data["starts_at"]:
        raise ValidationFailed("结束时间须晚于开始时间", details=[{"field": "ends_at", "type": "ends_before_start"}])
    # A project counts the tasks of these services at these stations: a name that matches none
    # would leave it counting nothing, found only at acceptance.
    await catalogue.check_codes(codes=data["services"], field="services")
    if await Station.filter(id__in=data["station_ids"]).count() != len(set(data["station_ids"])):
        raise ValidationFailed("驿站不存在", details=[{"field": "station_ids", "type": "not_found"}])
    project = await Project.create(created_by=actor_id, **data)
    await ProjectStep.create(project_id=project.id, from_status=None, to_status="proposed", actor_id=actor_id,
                             created_at=now)
    return project


async def count_projects() -> int:
    """How many projects there are, in any state."""
    return await Project.all().count()


async def list_projects(*, offset: int = 0, limit: int | None = None) -> list[Project]:
    """Every project, the newest first, with its organisation loaded; one page of them with ``limit``."""
    qs = Project.all().select_related("organization").order_by("-id")
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    return await qs


def next_steps(*, status: str) -> list[str]:
    """The steps a project in ``status`` may take next, in lifecycle order."""
    return [to for to, (allowed, _) in STEPS.items() if status in allowed]


async def get(*, project_id: int) -> Project:
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise NotFound("项目不存在")
    return project


async def kpis(*, project: Project, grace_minutes: int) -> dict[str, Any]:
    """Tasks done, verified hours, on-time rate, median minutes from need to first service, average
    rating, complaints (投诉 filed about the project's tasks or their needs) and low ratings (2 or
    less), over the project's tasks."""
    scope = Task.filter(station_id__in=project.station_ids or [0], service_id__in=project.services or [""],
                        scheduled_start__gte=project.starts_at, scheduled_start__lt=project.ends_at)
    task_rows = {t.id: t for t in await scope}
    # Services that count: a confirmed claim whose award a station reversed did not happen as
    # recorded (ledger.counted_claims), as the ledgers, the statistics and the volunteer's hours say.
    claims = await ledger.counted_claims().filter(task_id__in=list(task_rows) or [0])
    counted_tasks = {c.task_id for c in claims}
    grace = timedelta(minutes=grace_minutes)
    on_time = [c for c in claims if c.checked_in_at and c.checked_in_at <= task_rows[c.task_id].scheduled_start + grace]
    need_ids = {t.need_id for t in task_rows.values()}
    needs = {n.id: n for n in await Need.filter(id__in=list(need_ids) or [0])}
    first_service: dict[int, datetime] = {}
    for c in await TaskClaim.filter(task_id__in=list(task_rows) or [0], checked_in_at__isnull=False):
        need_id = task_rows[c.task_id].need_id
        if need_id not in first_service or c.checked_in_at < first_service[need_id]:
            first_service[need_id] = c.checked_in_at
    waits = [(at - needs[nid].created_at).total_seconds() / 60 for nid, at in first_service.items()]
    ratings = [n.rating_score for n in needs.values() if n.rating_score is not None]
    return {
        "tasks": len(task_rows),
        "tasks_done": sum(1 for t in task_rows.values() if t.status == "confirmed" and t.id in counted_tasks),
        "verified_hours": round(sum(c.verified_minutes or 0 for c in claims) / 60, 2),
        "on_time_rate": round(len(on_time) / len(claims), 4) if claims else None,
        "median_minutes_to_first_service": round(median(waits), 1) if waits else None,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        # A complaint names a task, or the need it serves (subject "service"): one about a need
        # counts when any of the need's tasks is the project's.
        "complaints": await complaints.count_about(task_ids=list(task_rows), need_ids=list(need_ids)),
        "low_ratings": sum(1 for r in ratings if r <= 2),
    }


async def step(*, project_id: int, to: str, actor_id: int, note: str, documents: list[str], grace_minutes: int,
               now: datetime) -> Project:
    """Move a project one step along its lifecycle, recording the KPIs at that moment."""
    project = await Project.select_for_update().get_or_none(id=project_id)
    if project is None:
        raise NotFound("项目不存在")
    allowed, _ = STEPS[to]
    if project.status not in allowed:
        raise events.invalid_state(project, STEPS[to][1])
    snapshot = await kpis(project=project, grace_minutes=grace_minutes)
    await ProjectStep.create(project_id=project.id, from_status=project.status, to_status=to, actor_id=actor_id,
                             note=note, documents=documents, kpis=snapshot, created_at=now)
    await Project.filter(id=project.id).update(status=to)
    project.status = to
    return project


async def present(project: Project, *, grace_minutes: int) -> dict[str, Any]:
    steps = await ProjectStep.filter(project_id=project.id).order_by("id")
    return {
        "id": project.id, "name": project.name, "organization_id": project.organization_id,
        "budget_fen": project.budget_fen, "starts_at": project.starts_at, "ends_at": project.ends_at,
        "services": project.services, "station_ids": project.station_ids, "status": project.status,
        "kpis": await kpis(project=project, grace_minutes=grace_minutes),
        "steps": [{"from": s.from_status, "to": s.to_status, "actor_id": s.actor_id, "note": s.note,
                   "documents": s.documents, "kpis": s.kpis, "at": s.created_at} for s in steps],
    }
