"""Referring tasks to provider organisations (六社联动, 机制三 需求转介).

A worker refers an open task to an organisation that offers the service at that station and holds
valid qualifications (机制二: legal capacity, staff, facilities, finance). While referred the task is
out of volunteers' reach. The organisation's staff accept, naming one of their own approved
volunteers for each slot (who then check in and record as any volunteer), or decline; an unanswered
referral escalates after the SLA, the task goes back to the station and can be referred again.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from models import OrgReferral, Organization, Project, Task, UserRole, VolunteerProfile
from server.encoding import dumps
from server.errors import Conflict, NotFound, ValidationFailed
from server.notifications import notify
from server.workflow import claims, events

QUALIFICATIONS = ("legal_capacity", "staff", "facilities", "finance")


class NotQualified(Conflict):
    code = "ORGANIZATION_NOT_QUALIFIED"
    message = "该机构不具备承接条件(资质缺失或过期、服务或区域不符)"


class ReferralNotPending(Conflict):
    code = "REFERRAL_NOT_PENDING"
    message = "该转介已处理"


def missing_qualifications(*, org: Organization, now: datetime) -> list[str]:
    """The qualifications 机制二 asks of a provider that ``org`` lacks or holds expired at ``now``."""
    valid = {q.get("kind") for q in org.qualifications or []
             if q.get("expires_at") and datetime.fromisoformat(q["expires_at"]) > now}
    return [k for k in QUALIFICATIONS if k not in valid]


def check_qualified(*, org: Organization, service_id: str, station_id: int, now: datetime) -> None:
    """Why ``org`` may not serve ``service_id`` at ``station_id``, if it may not."""
    problems = []
    if service_id not in (org.services or []):
        problems.append("service")
    if station_id not in (org.station_ids or []):
        problems.append("station")
    missing = missing_qualifications(org=org, now=now)
    if missing:
        problems.append("qualifications:" + ",".join(missing))
    if problems:
        raise NotQualified(details={"problems": problems})


async def refer(*, task: Task, organization_id: int, actor_id: int, sla_hours: int, now: datetime) -> OrgReferral:
    org = await Organization.get_or_none(id=organization_id)
    if org is None:
        raise ValidationFailed("机构不存在", details=[{"field": "organization_id", "type": "unknown_reference"}])
    check_qualified(org=org, service_id=task.service_id, station_id=task.station_id, now=now)
    # Decided on the locked row: a task with slots stays open while its first claims are made,
    # so a claim that committed after the caller read the task shows only in its count.
    locked = await Task.select_for_update().get(id=task.id)
    if locked.claimed_count:
        task.status = locked.status
        raise events.invalid_state(task, "转介已有人领取的任务")
    await events.move(task, to="referred", allowed_from=("open",), wanted="转介", need_id=task.need_id,
                      actor_id=actor_id, actor_role="worker", now=now, reason=f"org {org.id}", locked=locked)
    referral = await OrgReferral.create(task_id=task.id, organization_id=org.id, referred_by=actor_id,
                                        due_at=now + timedelta(hours=sla_hours), created_at=now)
    # The organisation has until due_at to answer before the referral escalates (机制三): tell it.
    await notify.notify_org_staff(organization_id=org.id, event="referral_received", now=now, ctx={
        "referral_id": referral.id, "title": task.title, "start": task.scheduled_start, "due": referral.due_at})
    return referral


async def _lock_pending(referral_id: int, organization_id: int | None) -> OrgReferral:
    referral = await OrgReferral.select_for_update().get_or_none(id=referral_id)
    if referral is None or (organization_id is not None and referral.organization_id != organization_id):
        raise NotFound("转介不存在")
    if referral.status != "pending":
        raise ReferralNotPending(details={"status": referral.status})
    return referral


async def accept(*, referral_id: int, organization_id: int, actor_id: int, assignee_user_ids: list[int],
                 now: datetime) -> OrgReferral:
    """The organisation takes the task on (机制三 需求转介) with its own people, one for each slot,
    who hold it as claims. Accepting with nobody named used to put the task back in the city's open
    pool, where any passer-by could take what the organisation had answered for, while its staff
    believed it theirs: every slot is now named at once, or nothing changes."""
    referral = await _lock_pending(referral_id, organization_id)
    # Locked before anything is checked: what the slots are cannot change under the check.
    task = await Task.select_for_update().get(id=referral.task_id)
    # Qualified when it takes the service on (机制二), not only when it was referred: documents
    # lapse and administrators withdraw stations or services while a referral waits. It may
    # still decline, which gives the task back to the station at once.
    org = await Organization.get(id=referral.organization_id)
    check_qualified(org=org, service_id=task.service_id, station_id=task.station_id, now=now)
    volunteers = await _assignees(task, organization_id=referral.organization_id, user_ids=assignee_user_ids)
    await OrgReferral.filter(id=referral.id).update(status="accepted", responded_by=actor_id, responded_at=now)
    await Task.filter(id=task.id).update(delivery_way=await delivered_by(organization_id=referral.organization_id,
                                                                         task=task))
    await events.move(task, to="open", allowed_from=("referred",), wanted="承接", need_id=task.need_id,
                      actor_id=actor_id, actor_role="org_staff", now=now, reason="accepted by organisation",
                      locked=task)
    for volunteer in volunteers:
        await claims.assign(task=task, volunteer=volunteer, now=now)
        # A claim they did not make, which lapses unless they check in on time: they must know.
        await notify.notify(user_id=volunteer.user_id, event="task_assigned", now=now, ctx={
            "task_id": task.id, "title": task.title, "volunteer_name": volunteer.name, "start": task.scheduled_start})
    await referral.refresh_from_db()
    return referral


async def delivered_by(*, organization_id: int, task: Task) -> str:
    """How a task an organisation took on is delivered: a government-purchased service when one of
    its projects under way covers the task's service, station and day, else the organisation's own."""
    running = await Project.filter(organization_id=organization_id, status__in=("approved", "in_progress",
                                                                                 "acceptance_pending"),
                                   starts_at__lte=task.scheduled_start, ends_at__gt=task.scheduled_start)
    if any(task.service_id in (p.services or []) and task.station_id in (p.station_ids or []) for p in running):
        return "purchased"
    return "social_org"


async def _assignees(task: Task, *, organization_id: int, user_ids: list[int]) -> list[VolunteerProfile]:
    """The approved volunteers ``user_ids`` name, each one of the organisation's own people, one per
    open slot of ``task``; raises what is wrong with the list (nothing has been written yet)."""
    slots = task.volunteers_needed - task.claimed_count
    if len(set(user_ids)) != len(user_ids):
        raise ValidationFailed("同一人员不能指派两次", details=[{"field": "assignee_user_ids", "type": "duplicate"}])
    if len(user_ids) != slots:
        raise ValidationFailed(f"该任务需要指派{slots}名本机构人员", details=[
            {"field": "assignee_user_ids", "type": "wrong_count", "expected": slots, "given": len(user_ids)}])
    volunteers = []
    for user_id in sorted(user_ids):  # locked in user_id order, as claim batches lock them
        volunteer = await VolunteerProfile.select_for_update().get_or_none(user_id=user_id, status="approved")
        if volunteer is None:
            raise ValidationFailed("指派人员须为已审核的志愿者", details=[
                {"field": "assignee_user_ids", "type": "not_volunteer", "user_id": user_id}])
        # One of the organisation's own people: its staff may not hand a claim to any volunteer in
        # the city, who never agreed to it and whose claim limit it would take.
        if not await UserRole.exists(user_id=user_id, role="org_staff", organization_id=organization_id):
            raise ValidationFailed("指派人员须为本机构人员", details=[
                {"field": "assignee_user_ids", "type": "not_member", "user_id": user_id}])
        volunteers.append(volunteer)
    return volunteers


async def decline(*, referral_id: int, organization_id: int, actor_id: int, reason: str, now: datetime) -> OrgReferral:
    referral = await _lock_pending(referral_id, organization_id)
    await _back_to_station(referral, to="declined", actor_id=actor_id, role="org_staff", reason=reason, now=now)
    await referral.refresh_from_db()
    return referral


async def _back_to_station(referral: OrgReferral, *, to: str, actor_id: int | None, role: str, reason: str,
                           now: datetime) -> None:
    task = await Task.get(id=referral.task_id)
    await OrgReferral.filter(id=referral.id).update(status=to, responded_by=actor_id, responded_at=now, reason=reason)
    await events.move(task, to="open", allowed_from=("referred",), wanted="退回", need_id=task.need_id,
                      actor_id=actor_id, actor_role=role, now=now, reason=reason)
    await notify.notify_station_workers(station_id=task.station_id, event="task_expiring", now=now,
                                        ctx={"task_id": task.id, "title": task.title, "start": task.scheduled_start,
                                             "missing": task.volunteers_needed - task.claimed_count})


async def withdraw(*, task: Task, actor_id: int, reason: str, now: datetime) -> None:
    """The station takes a referred task back (its pairing ended, its need was cancelled)."""
    await OrgReferral.filter(task_id=task.id, status="pending").update(status="withdrawn", responded_at=now,
                                                                        reason=reason)
    await events.move(task, to="open", allowed_from=("referred",), wanted="撤回转介", need_id=task.need_id,
                      actor_id=actor_id, actor_role="worker", now=now, reason=reason)


async def escalate_overdue(*, now: datetime) -> int:
    """Referrals unanswered past their SLA go back to the station (and can be referred again)."""
    from tortoise.transactions import in_transaction

    done = 0
    for rid in await OrgReferral.filter(status="pending", due_at__lt=now).values_list("id", flat=True):
        async with in_transaction():
            try:
                referral = await _lock_pending(rid, None)
            except (ReferralNotPending, NotFound):
                continue
            await _back_to_station(referral, to="escalated", actor_id=None, role="system",
                                   reason="no answer within the SLA", now=now)
            done += 1
    return done


def present(r: OrgReferral, *, task: Task | None = None) -> dict[str, Any]:
    out = {"id": r.id, "task_id": r.task_id, "organization_id": r.organization_id, "status": r.status,
           "due_at": r.due_at, "responded_at": r.responded_at, "reason": r.reason, "created_at": r.created_at}
    if task is not None:
        # An organisation's staff cannot open the station's task, yet must judge whether to take it
        # on: what, when, how many people, and where at the community level browsing shows. The
        # exact place and the household reach only the person it assigns, as its claimant.
        out["task"] = {"service_code": task.service_id, "title": task.title, "scheduled_start": task.scheduled_start,
                       "scheduled_end": task.scheduled_end, "volunteers_needed": task.volunteers_needed,
                       "community": task.community, "station_id": task.station_id}
    return out


async def list_for(*, organization_id: int | None, station_id: int | None) -> list[OrgReferral]:
    """An organisation's referrals, or a station's (newest first)."""
    qs = OrgReferral.all()
    qs = qs.filter(organization_id=organization_id) if organization_id is not None else qs.filter(task__station_id=station_id)
    return await qs.order_by("-id").limit(200).select_related("task")


async def update_organization(*, organization_id: int, changes: dict[str, Any]) -> Organization:
    """Set an organisation's services, stations covered and qualification documents."""
    org = await Organization.get_or_none(id=organization_id)
    if org is None:
        raise NotFound("机构不存在")
    # Kept as JSON: a qualification's expiry as ISO 8601, which check_qualified reads back.
    org.update_from_dict(json.loads(dumps(changes)))
    await org.save()
    return org


async def organization_names(ids: list[int]) -> dict[int, str]:
    return dict(await Organization.filter(id__in=sorted(set(ids))).values_list("id", "name")) if ids else {}
