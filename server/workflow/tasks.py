"""Tasks and claims: from a worker's dispatch to a volunteer's confirmed service (任务五, 机制三);
the check-in, the service record and its confirmation are in records.py.

Task: open → claimed → checked_in → submitted → confirmed, or cancelled / expired.
Claim (one volunteer's part): claimed → checked_in → submitted → confirmed, or released / expired /
cancelled; a rejected record sends a submitted claim back to checked_in with the reason.
A task with several slots (volunteers_needed) is `claimed` once every slot is taken and moves on
when all its active claims have. Until then it stays `open` and claimable, even while the first
volunteers check in and serve; once its window is over the expiry job ends the claims still
waiting and lets the task follow the ones that served (server/ops/jobs.py).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F

from models import (
    CLAIM_ACTIVE, CLAIM_ENDED, DistrictService, Need, OrgReferral, Pairing, ResidentProfile, Service, Station, Task, TaskClaim,
    UserRole, VolunteerProfile,
)
from server import feed, geo, labels
from server.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from server.notifications import notify
from server.people import residents
from server.pii import FieldCipher, mask_name, mask_phone
from server.reference import catalogue
from server.workflow import events, needs

CONFIRMED_ADDRESS_TTL = timedelta(hours=24)


class TaskAlreadyClaimed(Conflict):
    code = "TASK_ALREADY_CLAIMED"
    message = "手慢了,该任务已被其他志愿者领取"


class ClaimLimit(Conflict):
    code = "CLAIM_LIMIT"
    message = "进行中的任务已达上限,请先完成已领取的任务"


class ClaimOverlap(Conflict):
    code = "CLAIM_OVERLAP"
    message = "与您已领取任务的时间冲突"


class OwnHousehold(Conflict):
    code = "OWN_HOUSEHOLD"
    message = "不能领取本人家庭的服务任务"


class SkillRequired(DomainError):
    status = 403
    code = "SKILL_REQUIRED"
    message = "该服务需要相应技能,请先在志愿者资料中登记"


def default_points(service: Service, standard: DistrictService | None = None) -> int:
    """The catalogue rule: points per hour (the district's own, if it set them) × the service's
    default duration, rounded up."""
    return math.ceil(catalogue.points_per_hour(service, standard) * service.default_minutes / 60)


def service_minutes(start: datetime, end: datetime) -> int:
    """Whole minutes from ``start`` to ``end``, never negative: how long a service record says."""
    return max(0, int((end - start).total_seconds() // 60))


def below_minimum(minutes: int, *, service: Service) -> bool:
    """Whether a service this short is below the catalogue's ``min_minutes`` for it: a worker
    confirms it only with a reason (server/workflow/records.py ``confirm``)."""
    return minutes < service.min_minutes


# ---- create -------------------------------------------------------------------------------


# What presenting a task to its claimant reads (``household_location``, ``present_full``) of the
# need, its household and the task's claims: code that loads partial rows for it (claims.py) reads
# these columns and no others.
LOCATION_NEED_COLUMNS = ("id", "resident_id", "location_enc")
CLAIMANT_HOUSEHOLD_COLUMNS = ("id", "user_id", "name", "phone_enc", "location_enc", "address_enc")
PRESENTED_CLAIM_COLUMNS = ("id", "volunteer_id", "status", "checked_in_at", "started_at", "ended_at", "summary",
                           "record_reject_reason", "verified_minutes", "points_due")


async def household_location(*, need: Need, cipher: FieldCipher) -> dict[str, Any] | None:
    """Where the service happens: the need's own location, else the household's address."""
    if need.location_enc:
        return json.loads(cipher.decrypt(need.location_enc, context=needs.LOCATION_CONTEXT))
    resident = await _household_of(need)
    if not resident.location_enc:
        return None
    lat, lng = json.loads(cipher.decrypt(resident.location_enc, context=residents.CTX["location"]))
    address = cipher.decrypt_optional(resident.address_enc, context=residents.CTX["address"])
    return {"lat": lat, "lng": lng, "address": address}


async def create(*, need: Need, actor_id: int, data: dict[str, Any], cipher: FieldCipher, now: datetime,
                 announce: bool = True) -> Task:
    """Dispatch part of an accepted need as a task volunteers can claim. ``announce=False`` for a
    pairing's tasks, which are taken by the paired volunteer or organisation, not by passers-by."""
    # The need as it is now, locked: a cancellation committed since the caller read it must be seen
    # (and one still running waits for this task, then cancels it with the rest).
    current = await Need.select_for_update().get(id=need.id)
    if current.status not in ("accepted", "dispatched", "in_service"):
        need.status = current.status
        raise events.invalid_state(need, "派发任务")
    service = await catalogue.require_offered(code=data.get("service_code") or need.service_id,
                                              station_id=need.station_id)
    needs.check_window(start=data["scheduled_start"], end=data["scheduled_end"], now=now, field="scheduled")
    if data["scheduled_start"] < now - timedelta(minutes=5):
        raise ValidationFailed("开始时间已过去", details=[{"field": "scheduled_start", "type": "in_past"}])
    location = await household_location(need=need, cipher=cipher)
    approx = geo.fuzz(location["lat"], location["lng"]) if location and location.get("lat") is not None else (None, None)
    resident = await ResidentProfile.get(id=need.resident_id)
    task = await Task.create(
        need_id=need.id,
        station_id=need.station_id,
        service_id=service.code,
        title=data["title"],
        scheduled_start=data["scheduled_start"],
        scheduled_end=data["scheduled_end"],
        volunteers_needed=data.get("volunteers_needed") or 1,
        points=data.get("points") if data.get("points") is not None else default_points(
            service, await catalogue.standard_at(code=service.code, station_id=need.station_id)),
        notes_for_volunteer=data.get("notes_for_volunteer") or "",
        community=resident.community,
        approx_lat=approx[0],
        approx_lng=approx[1],
        cell=geo.cell_of(*approx) if approx[0] is not None else None,
        created_by=actor_id,
        pairing_id=data.get("pairing_id"),
        occurrence_key=data.get("occurrence_key"),
        delivery_way=data.get("delivery_way") or "volunteer",
    )
    await events.record(task, need_id=need.id, actor_id=actor_id, actor_role="worker", from_status=None,
                        to_status="open", now=now)
    feed.changed("cell", task.cell)  # browsing caches open tasks by cell (server/workflow/browse.py)
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role="worker", now=now)
    if announce:
        await tell_nearby(task=task, service=service, resident=resident, now=now)
    return task


async def tell_nearby(*, task: Task, service: Service, resident: ResidentProfile, now: datetime, cap: int = 100) -> int:
    """Volunteers who opted in to "new tasks near me" and could take this one hear about it."""
    if task.approx_lat is None:
        return 0
    told = 0
    for volunteer in await VolunteerProfile.filter(status="approved", nearby_km__isnull=False).limit(5000):
        if volunteer.user_id == resident.user_id:
            continue
        if service.requires_skill and service.code not in (volunteer.skills or []):
            continue
        if geo.distance_m(volunteer.nearby_lat, volunteer.nearby_lng, task.approx_lat, task.approx_lng) > volunteer.nearby_km * 1000:
            continue
        await notify.notify(user_id=volunteer.user_id, event="task_nearby", now=now,
                            ctx={"task_id": task.id, "title": task.title, "community": task.community or "",
                                 "start": task.scheduled_start})
        told += 1
        if told >= cap:
            break
    return told


def present_public(task: Task, *, distance_m: float | None = None, service_name: str | None = None) -> dict[str, Any]:
    """What any approved volunteer may see: no name, no phone, no address, a fuzzed position.
    The service's name is ``service_name``, else that of the service loaded with the task."""
    service = task.service if service_name is None else None
    return present_public_row({name: getattr(task, name) for name in PUBLIC_COLUMNS},
                              service_name=service.name if isinstance(service, Service) else service_name,
                              distance_m=distance_m)


# The task columns ``present_public_row`` reads: browsing selects exactly these by hand.
PUBLIC_COLUMNS = ("id", "service_id", "title", "scheduled_start", "scheduled_end", "volunteers_needed",
                  "claimed_count", "points", "notes_for_volunteer", "community", "approx_lat", "approx_lng", "status")


def present_public_row(row: dict[str, Any], *, service_name: str | None,
                       distance_m: float | None = None) -> dict[str, Any]:
    """``present_public`` from a task's columns (``PUBLIC_COLUMNS``), as a model or a hand-written
    statement gives them: the one place that says what a volunteer sees of a task."""
    return {
        "id": row["id"],
        "service_code": row["service_id"],
        "service_name": service_name,
        "title": row["title"],
        "scheduled_start": row["scheduled_start"],
        "scheduled_end": row["scheduled_end"],
        "volunteers_needed": row["volunteers_needed"],
        "slots_left": max(0, row["volunteers_needed"] - row["claimed_count"]),
        "points": row["points"],
        "notes_for_volunteer": row["notes_for_volunteer"],
        "community": row["community"],
        "approx_location": None if row["approx_lat"] is None else {"lat": row["approx_lat"], "lng": row["approx_lng"]},
        "distance_m": None if distance_m is None else int(distance_m),
        "status": row["status"],
    }


# ---- claim --------------------------------------------------------------------------------


def fit_refusal(*, service_code: str, requires_skill: bool, volunteer: VolunteerProfile,
                household: ResidentProfile) -> DomainError | None:
    """Why this volunteer may not serve this household with this service at all, if they may not:
    the skill the service needs, and never their own home (claims and pairings alike)."""
    if requires_skill and service_code not in (volunteer.skills or []):
        return SkillRequired()
    if household.user_id is not None and household.user_id == volunteer.user_id:
        return OwnHousehold()
    return None


def check_fit(*, service: Service, volunteer: VolunteerProfile, household: ResidentProfile) -> None:
    refusal = fit_refusal(service_code=service.code, requires_skill=service.requires_skill, volunteer=volunteer,
                          household=household)
    if refusal is not None:
        raise refusal


async def tell(task: Task, event: str, *, who: str, volunteer: VolunteerProfile, now: datetime,
                need: Need | None = None, **extra: Any) -> None:
    """Notify the household, the volunteer or the station's workers about ``task``."""
    ctx = {"task_id": task.id, "need_id": task.need_id, "title": task.title, "volunteer_name": mask_name(volunteer.name),
           "at": now, **extra}
    if who == "household":
        if need is None or not isinstance(getattr(need, "resident", None), ResidentProfile):
            need = await Need.get(id=task.need_id).select_related("resident")
        await notify.notify(user_id=need.resident.user_id, event=event, ctx=ctx, now=now)
    elif who == "volunteer":
        await notify.notify(user_id=volunteer.user_id, event=event, ctx={**ctx, "volunteer_name": volunteer.name}, now=now)
    else:
        await notify.notify_station_workers(station_id=task.station_id, event=event, ctx=ctx, now=now)


async def _free_slot(*, task: Task, actor_id: int | None, actor_role: str, now: datetime, reason: str) -> None:
    locked = await Task.select_for_update().get(id=task.id)
    if locked.claimed_count > 0:
        await Task.filter(id=task.id).update(claimed_count=F("claimed_count") - 1)
        feed.changed("cell", locked.cell)
    await task.refresh_from_db()
    if task.status == "claimed":
        # Back to open even when the window has passed: the expiry job then closes it as expired.
        await events.move(task, to="open", allowed_from=("claimed",), wanted="释放", need_id=task.need_id,
                          actor_id=actor_id, actor_role=actor_role, now=now, reason=reason)


async def release(*, claim: TaskClaim, task: Task, actor_id: int | None, actor_role: str, now: datetime,
                  reason: str, to: str = "released") -> None:
    """Give a claimed (not yet checked-in) slot back to the pool."""
    # The task's row first, then the claim's, as everywhere a claim ends (cancel, expiry).
    await Task.select_for_update().get(id=task.id)
    await events.move(claim, to=to, allowed_from=("claimed",), wanted="放弃", need_id=task.need_id,
                      actor_id=actor_id, actor_role=actor_role, now=now, reason=reason,
                      extra={"active_key": None, "ended_reason": reason})
    await _free_slot(task=task, actor_id=actor_id, actor_role=actor_role, now=now, reason=reason)
    volunteer = await VolunteerProfile.get(id=claim.volunteer_id)
    # The household was told this volunteer is coming (task_claimed): it must not wait in vain.
    await tell(task, "volunteer_withdrawn", who="household", volunteer=volunteer, now=now)
    await _tell_handed_back(task, volunteer=volunteer, now=now)


async def _tell_handed_back(task: Task, *, volunteer: VolunteerProfile, now: datetime) -> None:
    """A slot someone else gave this volunteer (their pairing's, or their organisation's on
    accepting a referral, 机制三) is back in the open pool: whoever counted on that person must
    hear of it, or the visit is left to a passer-by no one arranged. The station coordinates; the
    organisation learns its person dropped out of what it answered for."""
    ctx = {"task_id": task.id, "title": task.title, "start": task.scheduled_start}
    if task.pairing_id is not None and await Pairing.exists(id=task.pairing_id, volunteer_id=volunteer.id):
        await notify.notify_station_workers(station_id=task.station_id, event="assignee_unserved", now=now,
                                            ctx={**ctx, "who": "结对志愿者"})
        return
    referral = await OrgReferral.filter(task_id=task.id, status="accepted").order_by("-id").first()
    if referral is None or not await UserRole.exists(user_id=volunteer.user_id, role="org_staff",
                                                     organization_id=referral.organization_id):
        return
    await notify.notify_station_workers(station_id=task.station_id, event="assignee_unserved", now=now,
                                        ctx={**ctx, "who": "承接机构指派的人员"})
    await notify.notify_org_staff(organization_id=referral.organization_id, event="referral_unserved", now=now,
                                  ctx={**ctx, "referral_id": referral.id}, but=volunteer.user_id)


async def active_claim(*, task: Task, volunteer: VolunteerProfile) -> TaskClaim:
    claim = await TaskClaim.get_or_none(task_id=task.id, volunteer_id=volunteer.id,
                                        status__in=CLAIM_ACTIVE)
    if claim is None:
        raise NotFound("您没有领取该任务")
    return claim


async def follow_claims(*, task: Task, actor_id: int | None, actor_role: str, now: datetime,
                        locked: Task | None = None, closing: bool = False) -> None:
    """Move the task to the least advanced state among its active and confirmed claims.

    A task with a free slot stays open, whatever its claims have done, so that the slot can still
    be claimed (see the module docstring); ``closing`` (its window is over, no one else will come)
    lets it follow the claims it has. ``locked``: the task as read ``FOR UPDATE`` here, if it was."""
    claims = await TaskClaim.filter(task_id=task.id, status__in=("claimed", "checked_in", "submitted", "confirmed"))
    if not claims:
        return
    current = locked if locked is not None else await Task.select_for_update().get(id=task.id)
    if current.status == "open" and current.claimed_count < current.volunteers_needed and not closing:
        return
    order = ["claimed", "checked_in", "submitted", "confirmed"]
    target = min((c.status for c in claims), key=order.index)
    if target != current.status and target != "claimed":
        await events.move(task, to=target, allowed_from=("open", *(s for s in order if s != target)), wanted="推进",
                          need_id=task.need_id, actor_id=actor_id, actor_role=actor_role, now=now, locked=current)


async def for_station(*, station_id: int, status: str | None, cursor: int | None, limit: int
                      ) -> tuple[list[tuple[Task, list[tuple[TaskClaim, str]]]], int | None]:
    """A station's tasks for its workers, oldest first (by id, ``cursor`` the last one seen), each
    with its live claims and their volunteers' names; with ``status="submitted"``, the service
    records waiting for the station to confirm them (what ``POST /tasks/confirm`` takes)."""
    qs = Task.filter(station_id=station_id)
    if status:
        qs = qs.filter(status=status)
    if cursor:
        qs = qs.filter(id__gt=cursor)
    rows = await qs.order_by("id").limit(limit + 1).select_related("service", "station")
    more, rows = len(rows) > limit, rows[:limit]
    live: dict[int, list[tuple[TaskClaim, str]]] = {task.id: [] for task in rows}
    if rows:
        for claim in await TaskClaim.filter(task_id__in=list(live)).exclude(status__in=CLAIM_ENDED) \
                .order_by("id").select_related("volunteer"):
            live[claim.task_id].append((claim, claim.volunteer.name))
    return [(task, live[task.id]) for task in rows], rows[-1].id if more else None


async def load(*, task_id: int) -> Task:
    task = await Task.get_or_none(id=task_id).select_related("service", "station")
    if task is None:
        raise NotFound("任务不存在")
    return task


async def _household_of(need: Need) -> ResidentProfile:
    """The need's household: the one loaded with it if it was (select_related), else read."""
    loaded = getattr(need, "_resident", None)
    return loaded if isinstance(loaded, ResidentProfile) else await ResidentProfile.get(id=need.resident_id)


async def set_delivery_way(*, task: Task, way: str, actor_id: int, now: datetime) -> Task:
    """The worker says how the task is, or was, delivered (服务方式); the timeline says so."""
    locked = await Task.select_for_update().get(id=task.id)
    if locked.delivery_way != way:
        await Task.filter(id=task.id).update(delivery_way=way)
        await events.record(locked, need_id=locked.need_id, actor_id=actor_id, actor_role="worker",
                            from_status=locked.status, to_status=locked.status, now=now,
                            reason=f"服务方式:{labels.label('delivery_way', locked.delivery_way)} → "
                                   f"{labels.label('delivery_way', way)}")
        locked.delivery_way = way
    return locked


def present_station(station: Station) -> dict[str, Any]:
    """The station a task belongs to, as its claimant calls it: its name and public number."""
    return {"name": station.name, "phone": station.phone}


async def _station_of(task: Task) -> dict[str, Any]:
    """The task's station (``present_station``): the one loaded with it (select_related), else read."""
    loaded = getattr(task, "station", None)
    if isinstance(loaded, Station):
        return present_station(loaded)
    return present_station(await Station.get(id=task.station_id))


async def present_full(task: Task, *, cipher: FieldCipher, viewer: str, claim: TaskClaim | None = None,
                       now: datetime, need: Need | None = None, claims: list[tuple[TaskClaim, str]] | None = None,
                       service_name: str | None = None, station: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task for a worker, the household, or a claimant (who gets the exact address, and the
    station to call). What the caller has in hand and current: ``need`` (with its household,
    ideally), ``claims`` (the task's live claims with their volunteers' names), ``service_name``,
    ``station`` (``present_station``)."""
    out = present_public(task, service_name=service_name)
    out["need_id"] = task.need_id
    out["station_id"] = task.station_id
    if claims is None:
        claims = [(c, c.volunteer.name) for c in await TaskClaim.filter(task_id=task.id).exclude(
            status__in=CLAIM_ENDED).select_related("volunteer")]
    out["claims"] = [
        {"id": c.id, "status": c.status, "volunteer_name": mask_name(name),
         "checked_in_at": c.checked_in_at, "started_at": c.started_at, "ended_at": c.ended_at,
         "summary": c.summary if viewer != "claimant" or (claim and c.id == claim.id) else None,
         "record_reject_reason": c.record_reject_reason, "verified_minutes": c.verified_minutes,
         "points_due": c.points_due, "volunteer_id": c.volunteer_id if viewer == "worker" else None}
        for c, name in claims
    ]
    if viewer == "worker":
        service = getattr(task, "service", None)  # loaded with the task, or a query not yet run
        if not isinstance(service, Service):
            service = await Service.get(code=task.service_id)
        _flag_short(out, claims=[c for c, _ in claims], service=service)
        out["station"] = station or await _station_of(task)
    if viewer == "claimant" and claim is not None:
        out["my_claim"] = {"id": claim.id, "status": claim.status, "points_due": claim.points_due,
                           "record_reject_reason": claim.record_reject_reason}
        live = claim.status in CLAIM_ACTIVE or (
            claim.status == "confirmed" and claim.confirmed_at and now - claim.confirmed_at <= CONFIRMED_ADDRESS_TTL
        )
        if live:
            need = need if need is not None and need.id == task.need_id else await Need.get(id=task.need_id)
            out["location"] = await household_location(need=need, cipher=cipher)
            resident = await _household_of(need)
            phone = cipher.decrypt_optional(resident.phone_enc, context=residents.CTX["phone"])
            out["contact"] = {
                "name": mask_name(resident.name),
                "phone": mask_phone(phone),
                # The real number stays with the station: volunteers call through it.
                "call_hint": "请通过驿站电话联系服务对象",
            }
            out["station"] = station or await _station_of(task)
    return out


def _flag_short(out: dict[str, Any], *, claims: list[TaskClaim], service: Service) -> None:
    """What a worker sees before confirming: the service's minimum, each record's length, and
    which records fall short of it (``short_service``). A submitted record that does needs a
    reason to be confirmed; for a confirmed one, the verified minutes are what counted."""
    out["min_minutes"] = service.min_minutes
    for shown, c in zip(out["claims"], claims):
        recorded = service_minutes(c.started_at, c.ended_at) if c.started_at and c.ended_at else None
        counted = {"submitted": recorded, "confirmed": c.verified_minutes}.get(c.status)
        shown["recorded_minutes"] = recorded
        shown["short_service"] = counted is not None and below_minimum(counted, service=service)
    out["short_service"] = any(shown["short_service"] for shown, c in zip(out["claims"], claims)
                               if c.status == "submitted")


async def approved_volunteer(*, actor) -> VolunteerProfile:
    """The caller's approved volunteer profile (browsing and 'my tasks'), as read with the caller."""
    actor.require("volunteer")
    volunteer = actor.volunteer
    if volunteer is None or volunteer.status != "approved":
        raise Forbidden("仅已审核通过的志愿者可查看任务")
    return volunteer


async def claimed_by(*, volunteer: VolunteerProfile) -> list[tuple[Task, TaskClaim]]:
    """A volunteer's claims with their tasks: active ones first, then the 50 latest finished."""
    claims = await TaskClaim.filter(volunteer_id=volunteer.id).exclude(status__in=("released", "cancelled")).order_by("-id").limit(100)
    order = {"claimed": 0, "checked_in": 0, "submitted": 0}
    claims.sort(key=lambda c: (order.get(c.status, 1), -c.id))
    out = []
    for claim in claims[:50]:
        out.append((await load(task_id=claim.task_id), claim))
    return out


class TaskUnderWay(events.InvalidState):
    message = "已有志愿者签到服务,不能取消任务"


async def locked_claims(*, task: Task) -> list[TaskClaim]:
    """Every claim of ``task``, read ``FOR UPDATE`` (by the task's key alone, in id order) under the
    task's row lock the caller holds: the current rows, not this transaction's snapshot."""
    return await TaskClaim.select_for_update().filter(task_id=task.id).order_by("id")


async def lock_claim(*, claim_id: int) -> tuple[Task, TaskClaim]:
    """A claim and its task, both row-locked: the task's row first, then the claim's, the order
    every path that ends a claim takes (cancel, expiry, release), so they queue and never deadlock."""
    task_id = (await TaskClaim.get(id=claim_id)).task_id
    task = await Task.select_for_update().get(id=task_id)
    return task, await TaskClaim.select_for_update().get(id=claim_id)


async def end_waiting_claims(*, task: Task, to: str, event: str, actor_id: int | None, actor_role: str,
                             now: datetime, reason: str, told: str | None = None,
                             quiet: frozenset[int] = frozenset()) -> list[TaskClaim]:
    """End the task's claims not yet checked in (``claimed``, e.g. to cancelled or expired) and
    tell each claimant ``event`` (``told``: the reason they read, if not ``reason``; ``quiet``:
    volunteers told otherwise, e.g. of their pairing's end, who are not told again). The caller
    holds the task's row lock: claims take that lock before they insert (server/workflow/claims.py), so
    this locking read sees every claim committed before it and none can be added meanwhile (a
    plain read would see the transaction's older snapshot and miss a claim that just won)."""
    ended = []
    for claim in await locked_claims(task=task):
        if claim.status != "claimed":
            continue
        await events.move(claim, to=to, allowed_from=("claimed",), wanted="结束领取", need_id=task.need_id,
                          actor_id=actor_id, actor_role=actor_role, now=now, reason=reason, locked=claim,
                          extra={"active_key": None, "ended_reason": reason})
        if claim.volunteer_id not in quiet:
            await tell(task, event, who="volunteer", volunteer=await VolunteerProfile.get(id=claim.volunteer_id),
                        now=now, reason=told or reason)
        ended.append(claim)
    return ended


async def close_window(*, task: Task, now: datetime) -> bool:
    """An open task (locked by the caller) whose window has passed: True if it expired.

    It may still have live claims: a late claim whose grace has not run out (ended here, its
    volunteer told), or, on a task with several slots, volunteers who checked in while a slot
    stayed free (the task then follows them instead of expiring: their service happened). The
    need follows its tasks, and may complete."""
    ended = await end_waiting_claims(task=task, to="expired", event="claim_released", actor_id=None,
                                     actor_role="system", now=now, reason="window passed")
    for claim in ended:  # told this volunteer was coming (task_claimed), as tasks.release tells it
        await tell(task, "volunteer_withdrawn", who="household",
                    volunteer=await VolunteerProfile.get(id=claim.volunteer_id), now=now)
    if ended:
        task.claimed_count = max(0, task.claimed_count - len(ended))
        await Task.filter(id=task.id).update(claimed_count=task.claimed_count)
        feed.changed("cell", task.cell)
    need = await Need.get(id=task.need_id)
    served = any(c.status in ("checked_in", "submitted", "confirmed") for c in await locked_claims(task=task))
    if served:
        await follow_claims(task=task, actor_id=None, actor_role="system", now=now, closing=True, locked=task)
    else:
        await events.move(task, to="expired", allowed_from=("open",), wanted="过期", need_id=task.need_id,
                          actor_id=None, actor_role="system", now=now, reason="window passed unclaimed", locked=task)
        # Nobody served the household: the station re-arranges (it may never have been warned,
        # warn_unclaimed only looks at tasks still open two hours ahead).
        await notify.notify_station_workers(station_id=task.station_id, event="task_expired", now=now,
                                            ctx={"task_id": task.id, "title": task.title, "start": task.scheduled_start})
    await needs.follow_tasks(need=need, actor_id=None, actor_role="system", now=now)
    return not served


async def cancel(*, task: Task, actor_id: int, reason: str, now: datetime, role: str = "worker",
                 locked: Task | None = None, told: str | None = None, quiet: frozenset[int] = frozenset()) -> Task:
    """A worker withdraws a task that is not yet under way; its claims end with it and their
    volunteers are told. ``locked``: the task as the caller read it ``FOR UPDATE``, if it did;
    ``told``, ``quiet``: as for ``end_waiting_claims``."""
    locked = locked if locked is not None else await Task.select_for_update().get(id=task.id)
    if locked.status not in ("open", "claimed"):
        task.status = locked.status
        raise events.invalid_state(task, "取消任务")
    # A slot of a task still open for more volunteers may already be served (checked in).
    if any(c.status in ("checked_in", "submitted") for c in await locked_claims(task=locked)):
        raise TaskUnderWay(details={"current_status": locked.status, "action": "取消任务"})
    await end_waiting_claims(task=locked, to="cancelled", event="claim_cancelled", actor_id=actor_id, actor_role=role,
                             now=now, reason=reason, told=told, quiet=quiet)
    await events.move(task, to="cancelled", allowed_from=("open", "claimed"), wanted="取消任务", need_id=task.need_id,
                      actor_id=actor_id, actor_role=role, now=now, reason=reason, locked=locked)
    need = await Need.get(id=task.need_id)
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role=role, now=now)
    return task


async def of_need(*, need: Need) -> list[dict[str, Any]]:
    """A need's tasks for its station's workers, oldest first, each with every claim it had (ended
    ones too: who released a slot is part of the story) and the volunteers by name."""
    rows = await Task.filter(need_id=need.id).order_by("id").select_related("service")
    claims: dict[int, list[dict[str, Any]]] = {task.id: [] for task in rows}
    if rows:
        for c in await TaskClaim.filter(task_id__in=list(claims)).order_by("id").select_related("volunteer"):
            claims[c.task_id].append({"id": c.id, "status": c.status, "volunteer_id": c.volunteer_id,
                                      "volunteer_name": c.volunteer.name, "verified_minutes": c.verified_minutes,
                                      "points_due": c.points_due})
    return [{"id": t.id, "title": t.title, "service_code": t.service_id, "service_name": t.service.name,
             "status": t.status, "scheduled_start": t.scheduled_start, "scheduled_end": t.scheduled_end,
             "volunteers_needed": t.volunteers_needed, "claimed_count": t.claimed_count, "points": t.points,
             "delivery_way": t.delivery_way, "claims": claims[t.id]} for t in rows]
