"""Deadlines that escalate (督办): waits the station is reminded of, then the district is told of.

Two waits are the station's (config/deadlines.json): a need not yet accepted (受理), by its
urgency, and a service record not yet confirmed. Past the first limit the station's workers are
reminded; past the second, the district is told (保障四: districts supervise): its own
administrators, or the city's while it has none (server/people/staff.supervisors_of).

Two expiries are their owners': a policy that stops being valid and an organisation's
qualification (机制二) that runs out, within ``expiry_notice_days``: the administrators who keep
policies, and the organisation's staff with the administrators, are told once.

One wait is a department's (部门联动): a task referred to a department and not answered within the
time the department committed to (its SLA) reminds the station's workers, once: the department has
no account to be told, the station calls it.

Each reminder and escalation is a ``DeadlineNotice`` with a unique key, inserted in the same
transaction as its timeline row and its notifications: with several job runners at once exactly
one insert wins, and only the winner writes and sends (the others' inserts fail on the key and
roll back). A wait that starts again (a record sent back and submitted anew, a renewed
qualification) has a new key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from config.data import DEADLINES
from models import (
    DeadlineNotice, Department, DepartmentReferral, Need, Organization, Policy, Service, Station, Task, TaskClaim,
)
from server import labels
from server.clock import CHINA_TZ
from server.notifications import notify
from server.people import staff
from server.workflow import events

log = logging.getLogger("haibei.deadlines")

NEED_ACCEPT: dict[str, dict[str, int]] = DEADLINES["need_accept"]
RECORD_CONFIRM: dict[str, int] = DEADLINES["record_confirm"]
EXPIRY_AHEAD = timedelta(days=DEADLINES["expiry_notice_days"])
DEPARTMENT_ANSWER: dict[str, int] = DEADLINES["department_answer"]
BATCH = 500  # items looked at per kind and run; the rest wait a minute for the next run


def hours_text(h: int) -> str:
    return f"{h // 24}天" if h % 24 == 0 and h >= 24 else f"{h}小时"


def limits(kind: str, urgency: str = "normal") -> dict[str, int]:
    return NEED_ACCEPT.get(urgency, NEED_ACCEPT["normal"]) if kind == "need_accept" else RECORD_CONFIRM


def stage_due(kind: str, started_at: datetime, urgency: str = "normal") -> dict[str, datetime]:
    """When each stage of a wait begun at ``started_at`` falls due."""
    hours = limits(kind, urgency)
    return {"remind": started_at + timedelta(hours=hours["remind_after_hours"]),
            "escalate": started_at + timedelta(hours=hours["escalate_after_hours"])}


def _key(kind: str, stage: str, subject_id: int, started_at: datetime, extra: str = "") -> str:
    return f"{kind}:{subject_id}:{stage}:{int(started_at.timestamp())}{':' + extra if extra else ''}"


async def _once(notice: DeadlineNotice, then: Callable[[], Awaitable[None]]) -> bool:
    """Insert the notice and do what it announces, in one transaction; False when another runner
    has already done it (its key is taken)."""
    try:
        async with in_transaction():
            await notice.save()
            await then()
    except IntegrityError:
        return False
    return True


async def _admins() -> list[int]:
    return await staff.supervisors_of(district_id=None)


async def _districts(station_ids: set[int]) -> dict[int, int]:
    return dict(await Station.filter(id__in=station_ids or {0}).values_list("id", "district_id"))


async def _pending(kind: str, stage: str, candidates: dict[int, datetime]) -> dict[int, datetime]:
    """The candidates (subject id → start of its wait) not yet noticed at this stage."""
    if not candidates:
        return {}
    taken = set(await DeadlineNotice.filter(kind=kind, stage=stage, subject_id__in=list(candidates))
                .values_list("key", flat=True))
    return {sid: at for sid, at in candidates.items() if _key(kind, stage, sid, at) not in taken}


# --- needs not accepted ---------------------------------------------------------------------------


async def needs_waiting(*, now: datetime) -> int:
    """Needs still waiting to be accepted past a limit: the station reminded, then the district told."""
    done = 0
    for urgency, hours in NEED_ACCEPT.items():
        for stage in ("escalate", "remind"):
            limit = now - timedelta(hours=hours[f"{stage}_after_hours"])
            rows = await Need.filter(status="submitted", urgency=urgency, created_at__lt=limit) \
                .order_by("created_at").limit(BATCH).values("id", "created_at", "station_id", "service_id")
            pending = await _pending("need_accept", stage, {r["id"]: r["created_at"] for r in rows})
            if stage == "remind":
                # A need already escalated is not reminded afterwards.
                escalated = set(await DeadlineNotice.filter(kind="need_accept", stage="escalate",
                                                            subject_id__in=list(pending) or [0])
                                .values_list("subject_id", flat=True))
                pending = {k: v for k, v in pending.items() if k not in escalated}
            rows = [r for r in rows if r["id"] in pending]
            districts = await _districts({r["station_id"] for r in rows})
            names = dict(await Service.filter(code__in={r["service_id"] for r in rows} or {""}).values_list("code", "name"))
            for r in rows:
                done += await _need_notice(r, stage=stage, urgency=urgency, now=now,
                                           district_id=districts.get(r["station_id"]),
                                           service_name=names.get(r["service_id"], ""))
    return done


async def _need_notice(row: dict[str, Any], *, stage: str, urgency: str, now: datetime, district_id: int | None,
                       service_name: str) -> bool:
    waited = limits("need_accept", urgency)[f"{stage}_after_hours"]
    notice = DeadlineNotice(kind="need_accept", stage=stage, subject_id=row["id"],
                            key=_key("need_accept", stage, row["id"], row["created_at"]),
                            station_id=row["station_id"], district_id=district_id, need_id=row["id"],
                            started_at=row["created_at"], due_at=stage_due("need_accept", row["created_at"], urgency)[stage],
                            created_at=now)
    told = "已提醒驿站" if stage == "remind" else "已上报区县督办"
    ctx = {"need_id": row["id"], "service_name": service_name, "waited": hours_text(waited),
           "urgency": labels.URGENCY.get(urgency, ""), "at": now}

    async def then() -> None:
        need = await Need.select_for_update().get(id=row["id"])
        if need.status != "submitted":
            raise _Moved()
        await events.record(need, need_id=need.id, actor_id=None, actor_role="system", from_status=need.status,
                            to_status=need.status, now=now, reason=f"督办:需求等待受理已超过{hours_text(waited)},{told}")
        if stage == "remind":
            await notify.notify_station_workers(station_id=need.station_id, event="need_accept_overdue", ctx=ctx, now=now)
        else:
            await notify.notify_many([(u, "need_accept_escalated", ctx)
                                      for u in await staff.supervisors_of(district_id=district_id)], now=now)

    return await _moved_is_none(notice, then)


class _Moved(Exception):
    """The subject moved on (accepted, confirmed) between the read and the lock: nothing to say."""


async def _moved_is_none(notice: DeadlineNotice, then: Callable[[], Awaitable[None]]) -> bool:
    try:
        return await _once(notice, then)
    except _Moved:
        return False


# --- service records not confirmed ----------------------------------------------------------------


async def records_waiting(*, now: datetime) -> int:
    """Service records submitted and not yet confirmed past a limit: reminded, then escalated."""
    done = 0
    for stage in ("escalate", "remind"):
        limit = now - timedelta(hours=RECORD_CONFIRM[f"{stage}_after_hours"])
        rows = await TaskClaim.filter(status="submitted", submitted_at__lt=limit).order_by("submitted_at") \
            .limit(BATCH).values("id", "submitted_at", "task_id")
        pending = await _pending("record_confirm", stage, {r["id"]: r["submitted_at"] for r in rows})
        if stage == "remind":
            escalated = set(await DeadlineNotice.filter(kind="record_confirm", stage="escalate",
                                                        subject_id__in=list(pending) or [0]).values_list("key", flat=True))
            pending = {k: v for k, v in pending.items() if _key("record_confirm", "escalate", k, v) not in escalated}
        rows = [r for r in rows if r["id"] in pending]
        tasks = {t["id"]: t for t in await Task.filter(id__in={r["task_id"] for r in rows} or {0})
                 .values("id", "need_id", "station_id", "title")}
        districts = await _districts({t["station_id"] for t in tasks.values()})
        for r in rows:
            task = tasks[r["task_id"]]
            done += await _record_notice(r, task, stage=stage, now=now, district_id=districts.get(task["station_id"]))
    return done


async def _record_notice(row: dict[str, Any], task: dict[str, Any], *, stage: str, now: datetime,
                         district_id: int | None) -> bool:
    waited = RECORD_CONFIRM[f"{stage}_after_hours"]
    notice = DeadlineNotice(kind="record_confirm", stage=stage, subject_id=row["id"],
                            key=_key("record_confirm", stage, row["id"], row["submitted_at"]),
                            station_id=task["station_id"], district_id=district_id, need_id=task["need_id"],
                            started_at=row["submitted_at"], due_at=stage_due("record_confirm", row["submitted_at"])[stage],
                            created_at=now)
    told = "已提醒驿站" if stage == "remind" else "已上报区县督办"
    ctx = {"task_id": task["id"], "title": task["title"], "waited": hours_text(waited), "at": now}

    async def then() -> None:
        claim = await TaskClaim.select_for_update().get(id=row["id"])
        if claim.status != "submitted" or claim.submitted_at != row["submitted_at"]:
            raise _Moved()
        await events.record(claim, need_id=task["need_id"], actor_id=None, actor_role="system",
                            from_status=claim.status, to_status=claim.status, now=now,
                            reason=f"督办:服务记录等待确认已超过{hours_text(waited)},{told}")
        if stage == "remind":
            await notify.notify_station_workers(station_id=task["station_id"], event="record_confirm_overdue",
                                                ctx=ctx, now=now)
        else:
            await notify.notify_many([(u, "record_confirm_escalated", ctx)
                                      for u in await staff.supervisors_of(district_id=district_id)], now=now)

    return await _moved_is_none(notice, then)


# --- departments not answering ----------------------------------------------------------------------


async def departments_waiting(*, now: datetime) -> int:
    """Department referrals still waiting past the department's time (its SLA, plus the grace of
    config/deadlines.json): the station's workers are reminded, once per referral."""
    done = 0
    limit = now - timedelta(hours=DEPARTMENT_ANSWER["remind_after_due_hours"])
    rows = await DepartmentReferral.filter(status="pending", due_at__lt=limit).order_by("due_at").limit(BATCH) \
        .values("id", "created_at", "due_at", "station_id", "task_id", "department_id")
    pending = await _pending("department_answer", "remind", {r["id"]: r["created_at"] for r in rows})
    rows = [r for r in rows if r["id"] in pending]
    tasks = {t["id"]: t for t in await Task.filter(id__in={r["task_id"] for r in rows} or {0})
             .values("id", "need_id", "title", "scheduled_start")}
    departments = {d["id"]: d for d in await Department.filter(id__in={r["department_id"] for r in rows} or {0})
                   .values("id", "name", "contact_person", "contact_phone", "sla_hours")}
    districts = await _districts({r["station_id"] for r in rows})
    for r in rows:
        done += await _department_notice(r, tasks[r["task_id"]], departments[r["department_id"]], now=now,
                                         district_id=districts.get(r["station_id"]))
    return done


async def _department_notice(row: dict[str, Any], task: dict[str, Any], department: dict[str, Any], *,
                             now: datetime, district_id: int | None) -> bool:
    notice = DeadlineNotice(kind="department_answer", stage="remind", subject_id=row["id"],
                            key=_key("department_answer", "remind", row["id"], row["created_at"]),
                            detail=department["name"][:100], station_id=row["station_id"], district_id=district_id,
                            need_id=task["need_id"], started_at=row["created_at"],
                            due_at=row["due_at"] + timedelta(hours=DEPARTMENT_ANSWER["remind_after_due_hours"]),
                            created_at=now)
    ctx = {"task_id": task["id"], "title": task["title"], "department": department["name"],
           "contact": f"{department['contact_person']} {department['contact_phone']}",
           "waited": hours_text(department["sla_hours"]), "at": now}

    async def then() -> None:
        # The task's row first, then the referral's, as recording the department's answer takes them.
        locked_task = await Task.select_for_update().get(id=task["id"])
        referral = await DepartmentReferral.select_for_update().get(id=row["id"])
        if referral.status != "pending":
            raise _Moved()
        await events.record(locked_task, need_id=task["need_id"], actor_id=None, actor_role="system",
                            from_status=locked_task.status, to_status=locked_task.status, now=now,
                            reason=f"督办:部门「{department['name']}」超过{hours_text(department['sla_hours'])}未反馈,已提醒驿站"[:200])
        await notify.notify_station_workers(station_id=row["station_id"], event="department_answer_overdue",
                                            ctx=ctx, now=now)

    return await _moved_is_none(notice, then)


# --- expiries -------------------------------------------------------------------------------------


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CHINA_TZ)
        return parsed
    return None


async def policies_expiring(*, now: datetime) -> int:
    """Active policies whose validity ends within the notice period: the administrators are told once."""
    done = 0
    rows = await Policy.filter(status="active", valid_until__isnull=False, valid_until__lte=now + EXPIRY_AHEAD,
                               valid_until__gt=now).values("id", "title", "valid_until")
    pending = await _pending("policy_expiry", "remind", {r["id"]: r["valid_until"] for r in rows})
    for r in rows:
        if r["id"] not in pending:
            continue
        notice = DeadlineNotice(kind="policy_expiry", stage="remind", subject_id=r["id"],
                                key=_key("policy_expiry", "remind", r["id"], r["valid_until"]),
                                started_at=r["valid_until"], due_at=r["valid_until"], created_at=now)
        ctx = {"policy_id": r["id"], "title": r["title"], "expires": r["valid_until"]}

        async def then(ctx: dict[str, Any] = ctx) -> None:
            await notify.notify_many([(u, "policy_expiring", ctx) for u in await _admins()], now=now)

        done += await _once(notice, then)
    return done


async def qualifications_expiring(*, now: datetime) -> int:
    """Organisations' qualifications that run out within the notice period: the organisation's
    staff and those who keep it (its district's administrators, else the city's) are told once each."""
    done = 0
    for org in await Organization.all().only("id", "name", "qualifications", "district_id"):
        for q in org.qualifications or []:
            expires = _aware(q.get("expires_at"))
            # Within the notice period ahead; one that ran out lately and was never told of still is
            # (a job down for a day), one long gone is not dug up.
            if expires is None or not now - EXPIRY_AHEAD < expires <= now + EXPIRY_AHEAD:
                continue
            kind = str(q.get("kind", ""))
            document = hashlib.sha256(str(q.get("document", "")).encode()).hexdigest()[:12]
            key = _key("qualification_expiry", "remind", org.id, expires, f"{kind}:{document}")
            if await DeadlineNotice.exists(key=key):
                continue
            notice = DeadlineNotice(kind="qualification_expiry", stage="remind", subject_id=org.id, key=key,
                                    detail=labels.QUALIFICATION_KIND.get(kind, kind)[:100], district_id=org.district_id,
                                    started_at=expires, due_at=expires, created_at=now)
            ctx = {"organization_id": org.id, "name": org.name, "what": labels.QUALIFICATION_KIND.get(kind, kind),
                   "expires": expires}

            async def then(org_id: int = org.id, district_id: int | None = org.district_id,
                           ctx: dict[str, Any] = ctx) -> None:
                await notify.notify_org_staff(organization_id=org_id, event="qualification_expiring", ctx=ctx, now=now)
                await notify.notify_many([(u, "qualification_expiring", ctx)
                                          for u in await staff.supervisors_of(district_id=district_id)], now=now)

            done += await _once(notice, then)
    return done


async def run(*, now: datetime) -> int:
    """Every deadline, once (a job): how many reminders and escalations were sent."""
    return (await needs_waiting(now=now) + await records_waiting(now=now) + await departments_waiting(now=now)
            + await policies_expiring(now=now) + await qualifications_expiring(now=now))


# --- reading --------------------------------------------------------------------------------------


def present(n: DeadlineNotice) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "kind_label": labels.DEADLINE_KIND[n.kind], "stage": n.stage,
            "stage_label": labels.DEADLINE_STAGE[n.stage], "subject_id": n.subject_id, "detail": n.detail,
            "station_id": n.station_id, "district_id": n.district_id, "need_id": n.need_id,
            "started_at": n.started_at, "due_at": n.due_at, "created_at": n.created_at}


async def notices(*, station_ids: list[int] | None, kind: str | None = None, stage: str | None = None,
                  start: datetime | None = None, end: datetime | None = None, limit: int = 200) -> list[DeadlineNotice]:
    """Notices, newest first: a station's (its workers), or all (administrators: ``None``)."""
    qs = DeadlineNotice.all() if station_ids is None else DeadlineNotice.filter(station_id__in=station_ids or [0])
    if kind:
        qs = qs.filter(kind=kind)
    if stage:
        qs = qs.filter(stage=stage)
    if start:
        qs = qs.filter(created_at__gte=start)
    if end:
        qs = qs.filter(created_at__lt=end)
    return await qs.order_by("-id").limit(limit)


async def counts(*, station_ids: list[int] | None, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Reminders and escalations sent in the period, by kind and stage."""
    qs = DeadlineNotice.filter(created_at__gte=start, created_at__lt=end)
    if station_ids is not None:
        qs = qs.filter(station_id__in=station_ids or [0])
    out: dict[str, dict[str, int]] = {k: {"remind": 0, "escalate": 0} for k in labels.DEADLINE_KIND}
    for r in await qs.annotate(n=Count("id")).group_by("kind", "stage").values("kind", "stage", "n"):
        out[r["kind"]][r["stage"]] = r["n"]
    return out


async def board(*, station_ids: list[int] | None, kind: str | None = None, stage: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Notices as the supervision page lists them: each with its station's name and whether what
    ran late is still waiting (a need not yet accepted, a record not yet confirmed, a department
    not yet answered)."""
    rows = await notices(station_ids=station_ids, kind=kind, stage=stage, limit=limit)
    need_ids = [n.subject_id for n in rows if n.kind == "need_accept"]
    claim_ids = [n.subject_id for n in rows if n.kind == "record_confirm"]
    waiting_needs = set(await Need.filter(id__in=need_ids or [0], status="submitted").values_list("id", flat=True))
    waiting_claims = dict(await TaskClaim.filter(id__in=claim_ids or [0], status="submitted")
                          .values_list("id", "submitted_at"))
    stations = dict(await Station.filter(id__in={n.station_id for n in rows if n.station_id} or {0})
                    .values_list("id", "name"))
    policies = dict(await Policy.filter(id__in=[n.subject_id for n in rows if n.kind == "policy_expiry"] or [0])
                    .values_list("id", "title"))
    orgs = dict(await Organization.filter(id__in=[n.subject_id for n in rows if n.kind == "qualification_expiry"] or [0])
                .values_list("id", "name"))
    waiting_departments = set(await DepartmentReferral.filter(
        id__in=[n.subject_id for n in rows if n.kind == "department_answer"] or [0], status="pending")
        .values_list("id", flat=True))
    out = []
    for n in rows:
        if n.kind == "need_accept":
            still, what = n.subject_id in waiting_needs, f"需求 {n.subject_id}"
        elif n.kind == "record_confirm":
            # The same record, still waiting on the same submission (one sent back and sent again is a new wait).
            still = waiting_claims.get(n.subject_id) == n.started_at
            what = f"服务记录 {n.subject_id}"
        elif n.kind == "department_answer":
            still, what = n.subject_id in waiting_departments, f"部门联动 · {n.detail}"
        elif n.kind == "policy_expiry":
            still, what = None, policies.get(n.subject_id, "")
        else:
            still, what = None, f"{orgs.get(n.subject_id, '')} · {n.detail}"
        out.append({**present(n), "station_name": stations.get(n.station_id, ""), "what": what, "still_waiting": still})
    return out


async def escalations_by_station(*, station_ids: list[int] | None, start: datetime, end: datetime) -> dict[int, int]:
    """Escalations of late work sent in the period, per station."""
    qs = DeadlineNotice.filter(stage="escalate", station_id__isnull=False, created_at__gte=start, created_at__lt=end)
    if station_ids is not None:
        qs = qs.filter(station_id__in=station_ids or [0])
    return dict(await qs.annotate(n=Count("id")).group_by("station_id").values_list("station_id", "n"))
