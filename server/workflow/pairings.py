"""结对帮扶 (pairing): a volunteer or an organisation paired with a household for recurring service,
and the tasks generated from its schedule.

Policy 机制三 asks for regular, lasting service to households in hardship (特困、低保、空巢独居 …),
not only one-off errands. A pairing hangs off an accepted need; the jobs runner generates that
need's tasks from the schedule a few days ahead (``HORIZON_DAYS``):

- paired with a volunteer: the task is created already claimed by them (they agreed to the pairing,
  so the claim limit does not apply); if they are no longer an approved volunteer, the task stays
  open for others and the station is told — the household is not forgotten;
- paired with an organisation: the task is referred to it (pending, with the referral SLA), and its
  staff accept it and assign one of their people, as for any referral.

Each occurrence has a unique key on the task, so two runners at once create it once. While a pairing
is active its need stays open (in service); ending the pairing cancels the generated tasks that have
not started and lets the need complete.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Need, Notification, Organization, Pairing, ResidentProfile, Service, Station, Task, VolunteerProfile
from server.actors import Actor
from server.clock import CHINA_TZ
from server.errors import Conflict, DomainError, ValidationFailed
from server.notifications import notify
from server.pii import FieldCipher, mask_name
from server.workflow import claims, events, needs, referrals, tasks

HORIZON_DAYS = 7
WEEKDAY_NAMES = "一二三四五六日"
# What the station is told when a pairing's tasks cannot be generated.
STALLED_EVENT = "pairing_stalled"

log = logging.getLogger("haibei.pairings")


class ServiceRetired(Conflict):
    code = "SERVICE_RETIRED"
    message = "该服务已停用,不能再结对安排"


class PairingExists(Conflict):
    code = "PAIRING_EXISTS"
    message = "该需求已有进行中的结对帮扶"


def check_schedule(schedule: dict[str, Any]) -> None:
    """The schedule's shape is checked by the request schema; here, what it means."""
    problems = []
    days = schedule["weekdays"]
    if not days or len(set(days)) != len(days) or not all(1 <= d <= 7 for d in days):
        problems.append({"field": "schedule.weekdays", "type": "invalid_weekdays"})
    try:
        hh, mm = (int(x) for x in schedule["start_time"].split(":"))
        time(hh, mm)
    except ValueError:
        problems.append({"field": "schedule.start_time", "type": "invalid_time"})
    if problems:
        raise ValidationFailed("服务周期设置有误", details=problems)


def describe(schedule: dict[str, Any]) -> str:
    """每周一、四 09:00(60分钟) — for people, in notifications and the worksheet."""
    every = schedule.get("every_weeks", 1)
    days = "、".join(WEEKDAY_NAMES[d - 1] for d in sorted(schedule["weekdays"]))
    prefix = "每周" if every == 1 else f"每{every}周的周"
    return f"{prefix}{days} {schedule['start_time']}({schedule['minutes']}分钟)"


def occurrences(pairing: Pairing, *, now: datetime, horizon_days: int = HORIZON_DAYS) -> list[tuple[date, datetime]]:
    """Local dates and UTC start times of the pairing's services from now to the horizon."""
    schedule = pairing.schedule
    hh, mm = (int(x) for x in schedule["start_time"].split(":"))
    every = schedule.get("every_weeks", 1)
    today = now.astimezone(CHINA_TZ).date()
    first_monday = pairing.starts_on - timedelta(days=pairing.starts_on.weekday())
    out = []
    day = max(today, pairing.starts_on)
    last = today + timedelta(days=horizon_days)
    if pairing.ends_on is not None:
        last = min(last, pairing.ends_on)
    while day <= last:
        if day.isoweekday() in schedule["weekdays"] and ((day - first_monday).days // 7) % every == 0:
            start = datetime.combine(day, time(hh, mm), CHINA_TZ)
            if start > now:
                out.append((day, start))
        day += timedelta(days=1)
    return out


async def _check_volunteer(volunteer_id: int, *, service: Service, resident: ResidentProfile) -> VolunteerProfile:
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or volunteer.status != "approved":
        raise ValidationFailed("结对志愿者须为已审核通过的志愿者",
                               details=[{"field": "volunteer_id", "type": "not_approved_volunteer"}])
    tasks.check_fit(service=service, volunteer=volunteer, household=resident)
    return volunteer


async def create(*, actor: Actor, need: Need, data: dict[str, Any], now: datetime) -> Pairing:
    """A worker pairs an accepted need's household with a volunteer or an organisation."""
    if (data.get("volunteer_id") is None) == (data.get("organization_id") is None):
        raise ValidationFailed("须且只能选择一名志愿者或一家机构",
                               details=[{"field": "volunteer_id", "type": "one_of_volunteer_or_organization"}])
    check_schedule(data["schedule"])
    today = now.astimezone(CHINA_TZ).date()
    if data["starts_on"] < today:
        raise ValidationFailed("开始日期已过去", details=[{"field": "starts_on", "type": "in_past"}])
    if data.get("ends_on") is not None and data["ends_on"] < data["starts_on"]:
        raise ValidationFailed("结束日期须不早于开始日期", details=[{"field": "ends_on", "type": "ends_before_start"}])
    locked = await Need.select_for_update().get(id=need.id)
    if locked.status not in ("accepted", "dispatched", "in_service"):
        raise events.invalid_state(locked, "结对帮扶")
    # Locked: a service retired meanwhile either waits for this pairing (and then sees it in use)
    # or was retired first, and is not paired for (catalogue.update_service locks it too).
    service = await Service.select_for_update().get(code=need.service_id)
    if service.status != "active":
        raise ServiceRetired()
    resident = await ResidentProfile.get(id=need.resident_id)
    if data.get("volunteer_id") is not None:
        await _check_volunteer(data["volunteer_id"], service=service, resident=resident)
    else:
        org = await Organization.get_or_none(id=data["organization_id"])
        if org is None:
            raise ValidationFailed("机构不存在", details=[{"field": "organization_id", "type": "unknown_reference"}])
        referrals.check_qualified(org=org, service_id=service.code, station_id=need.station_id, now=now)
    try:
        pairing = await Pairing.create(
            need_id=need.id, resident_id=need.resident_id, station_id=need.station_id, service_id=service.code,
            volunteer_id=data.get("volunteer_id"), organization_id=data.get("organization_id"),
            schedule={"every_weeks": 1, **data["schedule"]}, starts_on=data["starts_on"], ends_on=data.get("ends_on"),
            title=data.get("title") or f"结对{service.name}", notes_for_volunteer=data.get("notes_for_volunteer") or "",
            points=data.get("points"), active_key=str(need.id), created_by=actor.id, created_at=now,
        )
    except IntegrityError:
        raise PairingExists() from None
    if pairing.volunteer_id is not None:
        volunteer = await VolunteerProfile.get(id=pairing.volunteer_id)
        # Far enough to reach the first visit of a pairing that starts weeks ahead: "待定" would
        # leave the volunteer guessing, and is no time WeChat takes (47003).
        ahead = max(0, (pairing.starts_on - today).days)
        upcoming = occurrences(pairing, now=now, horizon_days=ahead + 7 * pairing.schedule["every_weeks"] + 7)
        await notify.notify(user_id=volunteer.user_id, event="pairing_started", now=now, ctx={
            "pairing_id": pairing.id, "title": pairing.title, "household_name": mask_name(resident.name),
            "schedule_text": describe(pairing.schedule), "start": upcoming[0][1] if upcoming else "待定"})
    return pairing


async def _generate_one(pairing: Pairing, *, day: date, start: datetime, cipher: FieldCipher, sla_hours: int,
                        now: datetime) -> Task | None:
    need = await Need.get(id=pairing.need_id)
    task = await tasks.create(need=need, actor_id=pairing.created_by, cipher=cipher, now=now, announce=False, data={
        "title": pairing.title, "scheduled_start": start,
        "scheduled_end": start + timedelta(minutes=pairing.schedule["minutes"]),
        "points": pairing.points, "notes_for_volunteer": pairing.notes_for_volunteer,
        "pairing_id": pairing.id, "occurrence_key": f"p{pairing.id}:{day.isoformat()}",
        "delivery_way": "social_org" if pairing.organization_id is not None else "volunteer",
    })
    if pairing.organization_id is not None:
        await referrals.refer(task=task, organization_id=pairing.organization_id, actor_id=pairing.created_by,
                              sla_hours=sla_hours, now=now)
        return task
    volunteer = await VolunteerProfile.select_for_update().get(id=pairing.volunteer_id)
    if volunteer.status == "approved":
        await claims.assign(task=task, volunteer=volunteer, now=now)
    else:
        await notify.notify_station_workers(station_id=task.station_id, event="pairing_unserved", now=now,
                                            ctx={"task_id": task.id, "title": task.title, "start": start})
    return task


async def generate(*, now: datetime, cipher: FieldCipher, sla_hours: int, pairing_id: int | None = None,
                   horizon_days: int = HORIZON_DAYS) -> int:
    """Create the tasks of active pairings due within the horizon; each occurrence in its own
    transaction, once (a concurrent runner's duplicate is refused by the unique occurrence key)."""
    qs = Pairing.filter(status="active")
    if pairing_id is not None:
        qs = qs.filter(id=pairing_id)
    made = 0
    for pairing in await qs:
        due = occurrences(pairing, now=now, horizon_days=horizon_days)
        if not due:
            continue
        keys = [f"p{pairing.id}:{day.isoformat()}" for day, _ in due]
        existing = set(await Task.filter(occurrence_key__in=keys).values_list("occurrence_key", flat=True))
        for day, start in due:
            if f"p{pairing.id}:{day.isoformat()}" in existing:
                continue
            try:
                async with in_transaction():
                    current = await Pairing.select_for_update().get(id=pairing.id)
                    if current.status != "active":
                        break
                    await _generate_one(current, day=day, start=start, cipher=cipher, sla_hours=sla_hours, now=now)
                    made += 1
            except IntegrityError:
                continue  # another runner made this occurrence first
            except DomainError as exc:
                # The pairing's need or service no longer allows a task (rejected need, retired
                # service, ...): its other occurrences would fail the same way, the other pairings
                # must not. The station hears of it once and decides (end or fix the pairing).
                log.warning("pairing occurrence not generated",
                            extra={"pairing_id": pairing.id, "occurrence": day.isoformat(), "code": exc.code})
                await _tell_stalled(pairing_id=pairing.id, problem=exc.message, now=now)
                break
    return made


async def _tell_stalled(*, pairing_id: int, problem: str, now: datetime) -> None:
    """Tell the pairing's station, once per pairing, that its tasks cannot be generated."""
    async with in_transaction():
        # The pairing's row lock makes two runners agree on who tells.
        pairing = await Pairing.select_for_update().get(id=pairing_id)
        page = notify.render(STALLED_EVENT, {"pairing_id": pairing.id})["page"]
        if await Notification.exists(event=STALLED_EVENT, page=page):
            return
        await notify.notify_station_workers(station_id=pairing.station_id, event=STALLED_EVENT, now=now, ctx={
            "pairing_id": pairing.id, "title": pairing.title, "problem": problem, "at": now})


async def end(*, pairing: Pairing, actor_id: int, role: str, reason: str, now: datetime) -> Pairing:
    """End the pairing: generated tasks not yet under way are cancelled, the need may complete."""
    locked = await Pairing.select_for_update().get(id=pairing.id)
    if locked.status != "active":
        raise events.invalid_state(locked, "结束结对")
    await Pairing.filter(id=pairing.id).update(status="ended", active_key=None, ended_at=now, ended_by=actor_id,
                                               end_reason=reason)
    for task in await Task.filter(pairing_id=pairing.id, status__in=("open", "claimed", "referred"),
                                  scheduled_start__gt=now):
        if task.status == "referred":
            await referrals.withdraw(task=task, actor_id=actor_id, reason=reason, now=now)
        # The paired volunteer hears of the pairing's end below, once, not of each task.
        await tasks.cancel(task=task, actor_id=actor_id, reason=f"结对结束:{reason}"[:200], now=now, role=role,
                           quiet=frozenset({locked.volunteer_id}) if locked.volunteer_id else frozenset())
    need = await Need.get(id=pairing.need_id)
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role=role, now=now)
    await _tell_ended(locked, reason=reason, now=now)
    if role != "worker":
        # Ended by the volunteer, the organisation or the household: the station's to re-arrange.
        who = {"volunteer": "结对志愿者", "org_staff": "结对机构", "resident": "服务对象"}.get(role, "其他方")
        await notify.notify_station_workers(station_id=locked.station_id, event="pairing_left", now=now, ctx={
            "pairing_id": locked.id, "title": locked.title, "who": who, "reason": reason, "at": now})
    await locked.refresh_from_db()
    return locked


async def _tell_ended(pairing: Pairing, *, reason: str, now: datetime) -> int | None:
    """Tell the paired volunteer (if a volunteer, not an organisation) that ``pairing`` ended;
    returns their profile id."""
    if pairing.volunteer_id is None:
        return None
    volunteer = await VolunteerProfile.get(id=pairing.volunteer_id)
    resident = await ResidentProfile.get(id=pairing.resident_id)
    await notify.notify(user_id=volunteer.user_id, event="pairing_ended", now=now, ctx={
        "pairing_id": pairing.id, "title": pairing.title, "household_name": mask_name(resident.name),
        "reason": reason, "at": now})
    return volunteer.id


async def end_for_need(*, need_id: int, actor_id: int, reason: str, now: datetime) -> frozenset[int]:
    """The need was withdrawn or rejected: its pairing ends with it and the paired volunteer is
    told, as ``end`` tells them (the need's cancellation ends the tasks themselves). Returns the
    volunteers told (profile ids): that message covers their generated tasks too."""
    told = set()
    for pairing in await Pairing.filter(need_id=need_id, status="active"):
        locked = await Pairing.select_for_update().get(id=pairing.id)
        if locked.status != "active":
            continue
        await Pairing.filter(id=locked.id).update(status="ended", active_key=None, ended_at=now, ended_by=actor_id,
                                                  end_reason=reason)
        volunteer_id = await _tell_ended(locked, reason=reason, now=now)
        if volunteer_id is not None:
            told.add(volunteer_id)
    return frozenset(told)


async def list_for(*, actor: Actor, volunteer_ids: frozenset[int], resident_ids: frozenset[int],
                   status: str | None) -> list[Pairing]:
    """The caller's pairings in every capacity they hold (their own volunteer profiles and
    households: server.access.pairing_ties), newest first."""
    from tortoise.expressions import Q, Subquery

    conditions = []
    if actor.station_id is not None:
        conditions.append(Q(station_id=actor.station_id))
    if actor.organization_id is not None:
        conditions.append(Q(organization_id=actor.organization_id))
    if volunteer_ids:
        conditions.append(Q(volunteer_id__in=sorted(volunteer_ids)))
    if resident_ids:
        conditions.append(Q(resident_id__in=sorted(resident_ids)))
    if actor.district_id is not None:
        conditions.append(Q(station_id__in=Subquery(Station.filter(district_id=actor.district_id).values("id"))))
    if actor.has("admin"):
        conditions = [Q(id__gt=0)]
    if not conditions:
        return []
    qs = Pairing.filter(Q(*conditions, join_type="OR"))
    if status is not None:
        qs = qs.filter(status=status)
    return await qs.order_by("-id").limit(200)


async def present(pairing: Pairing, *, viewer: str, now: datetime) -> dict[str, Any]:
    resident = await ResidentProfile.get(id=pairing.resident_id)
    volunteer = await VolunteerProfile.get_or_none(id=pairing.volunteer_id) if pairing.volunteer_id else None
    upcoming = await Task.filter(pairing_id=pairing.id, scheduled_start__gt=now).exclude(
        status__in=("cancelled", "expired")).order_by("scheduled_start").limit(10)
    return {
        "id": pairing.id, "need_id": pairing.need_id, "resident_id": pairing.resident_id,
        "household_name": mask_name(resident.name), "station_id": pairing.station_id, "service_code": pairing.service_id,
        "volunteer_id": pairing.volunteer_id if viewer in ("worker", "volunteer", "admin") else None,
        "volunteer_name": mask_name(volunteer.name) if volunteer else None,
        "organization_id": pairing.organization_id, "title": pairing.title, "schedule": pairing.schedule,
        "schedule_text": describe(pairing.schedule), "starts_on": pairing.starts_on, "ends_on": pairing.ends_on,
        "status": pairing.status, "end_reason": pairing.end_reason, "ended_at": pairing.ended_at,
        "upcoming": [{"task_id": t.id, "scheduled_start": t.scheduled_start, "status": t.status} for t in upcoming],
    }
