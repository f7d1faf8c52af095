"""部门联动: a task referred to a government department (任务五: 部门联动救助; 机制四: 各级各部门
要加强协同配合).

Administrators keep the departments: who to call, which services each handles, and how many hours
it commits to answering in (its SLA). A worker of the task's station refers an open task that
nobody has claimed to an active department that handles its service; the task is then out of
volunteers' reach, as when it is referred to an organisation. The department has no account here:
the station calls its contact, and a worker records the answer. Served, the task is done as
delivered by the department, with no volunteer's claim and no points, and the need completes as it
does when its tasks are confirmed. Returned, the task is open again, for volunteers or another
referral. A referral still unanswered past its SLA reminds the station, once
(server/care/deadlines.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from config.data import DEADLINES
from tortoise.expressions import Q

from models import Department, DepartmentReferral, District, Need, Station, Task
from server import labels
from server.errors import Conflict, NotFound, ValidationFailed
from server.reference import catalogue
from server.workflow import events, needs

DEFAULT_SLA_HOURS: int = DEADLINES["department_answer"]["default_sla_hours"]
# A served time a few minutes ahead of the server's clock is a phone's clock, not the future.
CLOCK_SLACK = timedelta(minutes=5)


class DepartmentInactive(Conflict):
    code = "DEPARTMENT_INACTIVE"
    message = "该部门已停用,不能转介"


class DepartmentServiceNotHandled(Conflict):
    code = "DEPARTMENT_SERVICE_NOT_HANDLED"
    message = "该部门不承办此项服务"


class DepartmentOutOfDistrict(Conflict):
    code = "DEPARTMENT_OUT_OF_DISTRICT"
    message = "该部门不负责本驿站所在区市"


class TaskHasClaims(Conflict):
    code = "TASK_HAS_CLAIMS"
    message = "该任务已有志愿者领取,不能转介部门"


class DepartmentReferralNotPending(Conflict):
    code = "DEPARTMENT_REFERRAL_NOT_PENDING"
    message = "该部门转介已有结果"


# --- departments (administrators) ------------------------------------------------------------------


async def list_departments(*, active: bool | None = None, district_id: int | None = None) -> list[Department]:
    """Every department, by name (a city has tens, not thousands), or one district's together with
    the city's own."""
    qs = Department.all() if active is None else Department.filter(active=active)
    if district_id is not None:
        qs = qs.filter(Q(district_id=district_id) | Q(district_id=None))
    return await qs.order_by("name", "id")


async def get_department(*, department_id: int) -> Department:
    department = await Department.get_or_none(id=department_id)
    if department is None:
        raise NotFound("部门不存在")
    return department


async def _check_fields(data: dict[str, Any]) -> None:
    if data.get("services"):
        await catalogue.check_codes(codes=data["services"], field="services")
    if data.get("district_id") is not None and not await District.exists(id=data["district_id"]):
        raise ValidationFailed("区市不存在", details=[{"field": "district_id", "type": "unknown_reference"}])


async def create_department(*, data: dict[str, Any], now: datetime) -> Department:
    """Add a department; its SLA is the default (config/deadlines.json) unless given."""
    await _check_fields(data)
    data = {**data, "services": list(dict.fromkeys(data.get("services") or []))}
    if data.get("sla_hours") is None:
        data["sla_hours"] = DEFAULT_SLA_HOURS
    return await Department.create(**data, created_at=now, updated_at=now)


async def update_department(*, department_id: int, changes: dict[str, Any], now: datetime) -> Department:
    """Change a department's details, services, SLA or whether it takes referrals. A new SLA counts
    for referrals made after it; those waiting keep the time they were given."""
    department = await Department.select_for_update().get_or_none(id=department_id)
    if department is None:
        raise NotFound("部门不存在")
    await _check_fields(changes)
    if "services" in changes:
        changes = {**changes, "services": list(dict.fromkeys(changes["services"] or []))}
    department.update_from_dict({**changes, "updated_at": now})
    await department.save()
    return department


def present_department(d: Department, *, service_names: dict[str, str] | None = None) -> dict[str, Any]:
    out = {"id": d.id, "name": d.name, "district_id": d.district_id, "contact_person": d.contact_person,
           "contact_phone": d.contact_phone, "sla_hours": d.sla_hours, "services": list(d.services or []),
           "active": d.active, "created_at": d.created_at, "updated_at": d.updated_at}
    if service_names is not None:
        out["service_names"] = [service_names.get(code, code) for code in out["services"]]
    return out


# --- referring and answering -----------------------------------------------------------------------


def fit_refusal(*, department: Department, service_id: str, district_id: int | None) -> Conflict | None:
    """Why ``department`` may not take a task of ``service_id`` at a station of ``district_id``."""
    if not department.active:
        return DepartmentInactive(details={"department_id": department.id})
    if service_id not in (department.services or []):
        return DepartmentServiceNotHandled(details={"department_id": department.id, "service_code": service_id})
    if department.district_id is not None and department.district_id != district_id:
        return DepartmentOutOfDistrict(details={"department_id": department.id})
    return None


async def _district_of(station_id: int) -> int | None:
    station = await Station.get_or_none(id=station_id)
    return station.district_id if station is not None else None


async def suitable(*, service_id: str, station_id: int) -> list[Department]:
    """The departments a task of ``service_id`` at ``station_id`` may be referred to."""
    district_id = await _district_of(station_id)
    return [d for d in await list_departments(active=True)
            if fit_refusal(department=d, service_id=service_id, district_id=district_id) is None]


def _hours(h: int) -> str:
    return f"{h // 24}天" if h % 24 == 0 and h >= 24 else f"{h}小时"


async def refer(*, task: Task, department_id: int, actor_id: int, note: str, now: datetime) -> DepartmentReferral:
    """A worker refers an open task nobody has claimed to a department; checked before anything is
    written, so a refusal changes nothing."""
    department = await Department.get_or_none(id=department_id)
    if department is None:
        raise ValidationFailed("部门不存在", details=[{"field": "department_id", "type": "unknown_reference"}])
    refusal = fit_refusal(department=department, service_id=task.service_id,
                          district_id=await _district_of(task.station_id))
    if refusal is not None:
        raise refusal
    # Decided on the locked row, as for an organisation (referrals.refer): a task with slots stays
    # open while its first claims are made, and such a claim shows only in the count.
    locked = await Task.select_for_update().get(id=task.id)
    if locked.status != "open":
        task.status = locked.status
        raise events.invalid_state(task, "转介部门")
    if locked.claimed_count:
        raise TaskHasClaims(details={"claimed_count": locked.claimed_count})
    await events.move(task, to="referred", allowed_from=("open",), wanted="转介部门", need_id=task.need_id,
                      actor_id=actor_id, actor_role="worker", now=now, locked=locked, extra={"delivery_way": "department"},
                      reason=f"转介部门:{department.name},{_hours(department.sla_hours)}内反馈"[:200])
    return await DepartmentReferral.create(task_id=task.id, department_id=department.id, station_id=task.station_id,
                                           referred_by=actor_id, note=note or "",
                                           due_at=now + timedelta(hours=department.sla_hours), created_at=now)


async def _lock_pending(referral_id: int) -> tuple[Task, DepartmentReferral]:
    """The referral and its task, the task's row locked first (as every path that changes a task
    and what hangs off it), then the referral's; refused unless it still waits for an answer."""
    found = await DepartmentReferral.get_or_none(id=referral_id)
    if found is None:
        raise NotFound("部门转介不存在")
    task = await Task.select_for_update().get(id=found.task_id)
    referral = await DepartmentReferral.select_for_update().get(id=referral_id)
    if referral.status != "pending":
        raise DepartmentReferralNotPending(details={"status": referral.status})
    return task, referral


async def record_answer(*, referral_id: int, outcome: str, note: str, served_at: datetime | None,
                        actor_id: int, now: datetime) -> DepartmentReferral:
    """The worker records what the department did: ``served`` (when), and the task is done as the
    department's service; ``returned``, and the task is open again, delivered by volunteers unless
    the station refers it anew."""
    task, referral = await _lock_pending(referral_id)
    department = await Department.get(id=referral.department_id)
    need = await Need.get(id=task.need_id)
    if outcome == "served":
        if served_at is None:
            raise ValidationFailed("请填写部门服务的时间", details=[{"field": "served_at", "type": "missing"}])
        if served_at > now + CLOCK_SLACK:
            raise ValidationFailed("服务时间不能晚于现在", details=[{"field": "served_at", "type": "in_future"}])
        if served_at < referral.created_at - CLOCK_SLACK:
            raise ValidationFailed("服务时间不能早于转介时间", details=[{"field": "served_at", "type": "before_referral"}])
        await DepartmentReferral.filter(id=referral.id).update(status="served", answered_by=actor_id, answered_at=now,
                                                               served_at=served_at, answer_note=note or None)
        # No claim, no record, no points: the department served, the station vouches for it.
        await events.move(task, to="confirmed", allowed_from=("referred",), wanted="记录部门服务", need_id=task.need_id,
                          actor_id=actor_id, actor_role="worker", now=now, locked=task,
                          reason=f"部门联动:{department.name}已服务" + (f"({note})" if note else ""))
    else:
        await DepartmentReferral.filter(id=referral.id).update(status="returned", answered_by=actor_id,
                                                               answered_at=now, answer_note=note or None)
        await events.move(task, to="open", allowed_from=("referred",), wanted="部门退回", need_id=task.need_id,
                          actor_id=actor_id, actor_role="worker", now=now, locked=task, extra={"delivery_way": "volunteer"},
                          reason=(f"部门联动:{department.name}退回" + (f"({note})" if note else ""))[:200])
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role="worker", now=now)
    await referral.refresh_from_db()
    return referral


async def withdraw(*, task: Task, actor_id: int, reason: str, now: datetime) -> bool:
    """The station takes back a task waiting on a department (its need was cancelled): False when
    none waits on one."""
    waiting = await DepartmentReferral.filter(task_id=task.id, status="pending").values_list("id", flat=True)
    if not waiting:
        return False
    await DepartmentReferral.filter(id__in=list(waiting)).update(status="withdrawn", answered_by=actor_id,
                                                                 answered_at=now, answer_note=reason[:200])
    await events.move(task, to="open", allowed_from=("referred",), wanted="撤回转介", need_id=task.need_id,
                      actor_id=actor_id, actor_role="worker", now=now, reason=reason)
    return True


# --- reading --------------------------------------------------------------------------------------


async def for_station(*, station_id: int, status: str | None = None, limit: int = 200) -> list[DepartmentReferral]:
    """A station's department referrals, newest first, with their tasks and departments."""
    qs = DepartmentReferral.filter(station_id=station_id)
    if status:
        qs = qs.filter(status=status)
    return await qs.order_by("-id").limit(limit).select_related("task", "department")


async def load(*, referral_id: int) -> DepartmentReferral:
    """A referral with its task and department."""
    referral = await DepartmentReferral.get_or_none(id=referral_id).select_related("task", "department")
    if referral is None:
        raise NotFound("部门转介不存在")
    return referral


async def pending_of_need(*, need_id: int) -> list[DepartmentReferral]:
    """The referrals of a need's tasks still waiting for a department, with the departments."""
    return await DepartmentReferral.filter(task__need_id=need_id, status="pending").order_by("id") \
        .select_related("task", "department")


def present(r: DepartmentReferral, *, now: datetime) -> dict[str, Any]:
    """A referral for the station's workers: the department and how to reach it, the time it has,
    the answer; labels beside the codes."""
    department = r.department
    task = r.task if isinstance(getattr(r, "task", None), Task) else None
    return {
        "id": r.id, "task_id": r.task_id, "need_id": task.need_id if task else None,
        "task_title": task.title if task else None, "department_id": r.department_id,
        "department_name": department.name, "contact_person": department.contact_person,
        "contact_phone": department.contact_phone, "status": r.status,
        "status_label": labels.label("department_referral_status", r.status), "note": r.note,
        "due_at": r.due_at, "overdue": r.status == "pending" and r.due_at < now, "served_at": r.served_at,
        "answer_note": r.answer_note, "answered_at": r.answered_at, "created_at": r.created_at,
    }
