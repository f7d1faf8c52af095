"""Needs: what a household asks for (群众点题), or what a worker reports for them (机制一).

States: submitted → accepted → dispatched → in_service → completed → closed, plus rejected
(by the station, with a reason) and cancelled (by the household before service starts).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from models import Need, Pairing, ResidentProfile, Service, Task, TaskClaim, WorkflowEvent
from server.actors import Actor
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.notifications import notify
from server.pii import FieldCipher, mask_name
from server.reference import catalogue
from server.workflow import content, events

LOCATION_CONTEXT = "need.location"
MAX_WINDOW = timedelta(days=30)
SOURCES = ("self", "worker", "grid_worker", "visit", "hotline", "assessment")
# A rating at or below this puts the need on the station's follow-up list.
FOLLOW_UP_SCORE = 2


class NeedDuplicate(Conflict):
    code = "NEED_DUPLICATE"
    message = "该服务已有进行中的需求,请勿重复提交"


class OwnNeed(Forbidden):
    code = "OWN_NEED"
    message = "不能受理或驳回本人家庭的需求,请由驿站其他工作人员处理"


class OwnServiceRating(Forbidden):
    code = "OWN_SERVICE"
    message = "不能代为评价本人参与的服务,请由驿站其他工作人员代评"


class NoHousehold(ValidationFailed):
    code = "RESIDENT_PROFILE_REQUIRED"
    message = "请先完善居民档案再提交需求"


def check_window(*, start: datetime | None, end: datetime | None, now: datetime, field: str = "window") -> None:
    """A time window must end after it starts, not lie in the past, and span at most 30 days."""
    if start is None and end is None:
        return
    if start is None or end is None:
        raise ValidationFailed("时间段须同时填写开始和结束", details=[{"field": field, "type": "incomplete"}])
    if end <= start:
        raise ValidationFailed("结束时间须晚于开始时间", details=[{"field": field, "type": "ends_before_start"}])
    if end - start > MAX_WINDOW:
        raise ValidationFailed("时间段不能超过30天", details=[{"field": field, "type": "too_long"}])
    if end <= now:
        raise ValidationFailed("时间段已过去", details=[{"field": field, "type": "in_past"}])


async def create(*, actor: Actor, resident: ResidentProfile, on_behalf: bool, data: dict[str, Any],
                 cipher: FieldCipher, now: datetime, screened: content.Verdict | None = None) -> Need:
    """Record a need of ``resident`` (reported for them by a worker when ``on_behalf``); one open need
    per household and service. ``screened``: the content check. Whose household it may be is the
    caller's access check (server.access.access_need_household)."""
    service = await catalogue.require_offered(code=data["service_code"], station_id=resident.station_id)
    check_window(start=data.get("window_start"), end=data.get("window_end"), now=now)
    source = data.get("source") or ("worker" if on_behalf else "self")
    if not on_behalf and source != "self":
        raise ValidationFailed("本人提交的需求来源只能是 self", details=[{"field": "source", "type": "self_only"}])
    if on_behalf and source == "self":
        raise ValidationFailed("代报需求须注明来源", details=[{"field": "source", "type": "on_behalf"}])
    open_key = f"{resident.id}:{service.code}"
    existing = await Need.get_or_none(open_key=open_key)
    if existing is not None:
        raise NeedDuplicate(details={"need_id": existing.id})
    location = data.get("location")
    need = Need(
        resident_id=resident.id,
        station_id=resident.station_id,
        service_id=service.code,
        description=data["description"],
        urgency=data.get("urgency", "normal"),
        window_start=data.get("window_start"),
        window_end=data.get("window_end"),
        location_enc=cipher.encrypt(json.dumps(location, ensure_ascii=False), context=LOCATION_CONTEXT) if location else None,
        source=source,
        reported_by=actor.id,
        on_behalf=on_behalf,
        open_key=open_key,
    )
    try:
        await need.save()
    except IntegrityError:
        # The same need submitted twice at once: the unique open_key let the other one in. No
        # locking read here (two losers upgrading their shared locks would deadlock); this
        # transaction's snapshot may not show the winner yet, so the id can be missing.
        other = await Need.get_or_none(open_key=open_key)
        raise NeedDuplicate(details={"need_id": other.id if other else None}) from None
    await events.record(need, need_id=need.id, actor_id=actor.id, actor_role="worker" if on_behalf else "resident",
                        from_status=None, to_status="submitted", now=now, reason=f"source={source}")
    if screened is not None:
        await content.flag(verdict=screened, station_id=need.station_id, subject_type="need", subject_id=need.id,
                           field="description", author_id=actor.id, now=now)
    if not on_behalf:
        # 群众点题: the station takes it from here, so its workers hear of it now (a need reported on
        # behalf came from the station already). The household's own words are not sent.
        await notify.notify_station_workers(station_id=need.station_id, event="need_submitted", now=now, ctx={
            "need_id": need.id, "service_name": service.name, "urgency": "紧急" if need.urgency == "urgent" else "",
            "at": now})
    return need


async def check_not_own(*, need: Need, actor: Actor) -> None:
    """Nobody decides on their own household's need (as on their own volunteer application)."""
    if await ResidentProfile.exists(id=need.resident_id, user_id=actor.id):
        raise OwnNeed()


async def accept(*, need: Need, actor: Actor, now: datetime) -> Need:
    """The station takes the need on."""
    await check_not_own(need=need, actor=actor)
    await events.move(need, to="accepted", allowed_from=("submitted",), wanted="受理", need_id=need.id,
                      actor_id=actor.id, actor_role="worker", now=now,
                      extra={"accepted_by": actor.id, "accepted_at": now})
    await tell_household(need, "need_accepted", now=now)
    return need


class NoFollowUp(Conflict):
    code = "NO_FOLLOW_UP"
    message = "该需求没有待处理的回访"


async def close_follow_up(*, need: Need, actor: Actor, note: str, now: datetime) -> Need:
    """The station closes a low rating's follow-up (回访) with what it found and did; the note goes
    on the need's timeline."""
    locked = await Need.select_for_update().get(id=need.id)
    if not locked.follow_up:
        raise NoFollowUp()
    await Need.filter(id=need.id).update(follow_up=False, follow_up_note=note, followed_up_at=now,
                                         followed_up_by=actor.id)
    await events.record(need, need_id=need.id, actor_id=actor.id, actor_role="worker", from_status=locked.status,
                        to_status=locked.status, now=now, reason=f"回访:{note}"[:200])
    await need.refresh_from_db()
    return need


async def tell_household(need: Need, event: str, *, now: datetime, **extra: Any) -> None:
    """Tell the household (its account) what became of its need."""
    resident = await ResidentProfile.get(id=need.resident_id)
    service = await Service.get(code=need.service_id)
    await notify.notify(user_id=resident.user_id, event=event, now=now,
                        ctx={"need_id": need.id, "service_name": service.name, "at": now, **extra})


async def rate(*, need: Need, actor: Actor, role: str, score: int, comment: str | None, would_use_again: bool,
               now: datetime, screened: content.Verdict | None = None) -> Need:
    """The household rates a completed need, which closes it; a low score asks for follow-up."""
    if role == "worker" and await TaskClaim.exists(task__need_id=need.id, volunteer__user_id=actor.id,
                                                   status__in=("checked_in", "submitted", "confirmed")):
        # A worker rates for a household without a phone; not a service they gave themself (as
        # with confirming it, records.OwnService): 保障四 evaluates service quality by these ratings.
        raise OwnServiceRating()
    await events.move(need, to="closed", allowed_from=("completed",), wanted="评价", need_id=need.id,
                      actor_id=actor.id, actor_role=role, now=now, reason=f"score={score}",
                      extra={"rating_score": score, "rating_comment": comment, "would_use_again": would_use_again,
                             "rated_at": now, "rated_by": actor.id, "follow_up": score <= FOLLOW_UP_SCORE,
                             "open_key": None, "closed_at": now})
    if screened is not None:
        await content.flag(verdict=screened, station_id=need.station_id, subject_type="need", subject_id=need.id,
                           field="rating_comment", author_id=actor.id, now=now)
    return need


async def follow_tasks(*, need: Need, actor_id: int | None, actor_role: str, now: datetime) -> None:
    """A need's state follows its tasks: dispatched → in_service → completed."""
    tasks = await Task.filter(need_id=need.id).exclude(status__in=("cancelled", "expired"))
    if not tasks:
        return
    statuses = {t.status for t in tasks}
    # A paired household is served on and on: its need completes when the pairing ends.
    paired = await Pairing.exists(need_id=need.id, status="active")
    if statuses == {"confirmed"} and not paired:
        target, allowed = "completed", ("dispatched", "in_service")
    elif statuses & {"checked_in", "submitted", "confirmed"} or await TaskClaim.exists(
            task__need_id=need.id, status__in=("checked_in", "submitted", "confirmed")):
        # (a task still open for more volunteers may already be served by the first of them)
        target, allowed = "in_service", ("dispatched",)
    else:
        target, allowed = "dispatched", ("accepted",)
    if need.status in allowed:
        # A completed need is no longer open: the household may ask for the service again.
        await events.move(need, to=target, allowed_from=allowed, wanted="推进", need_id=need.id,
                          actor_id=actor_id, actor_role=actor_role, now=now,
                          extra={"open_key": None} if target == "completed" else None)
        if target == "completed":
            await tell_household(need, "need_completed", now=now)


async def list_needs(
    *, actor: Actor, status: str | None, service_code: str | None, urgency: str | None,
    created_from: datetime | None, created_to: datetime | None, follow_up: bool | None,
    cursor: int | None, limit: int,
) -> tuple[list[Need], int | None]:
    """Own household's needs (residents) or the station's (workers), newest first, by id cursor."""
    if actor.station_id is not None:
        qs = Need.filter(station_id=actor.station_id)
    else:
        resident = await ResidentProfile.get_or_none(user_id=actor.id, status="active")
        if resident is None:
            return [], None
        qs = Need.filter(resident_id=resident.id)
    if status:
        qs = qs.filter(status=status)
    if service_code:
        qs = qs.filter(service_id=service_code)
    if urgency:
        qs = qs.filter(urgency=urgency)
    if created_from:
        qs = qs.filter(created_at__gte=created_from)
    if created_to:
        qs = qs.filter(created_at__lt=created_to)
    if follow_up is not None:
        qs = qs.filter(follow_up=follow_up)
    if cursor:
        qs = qs.filter(id__lt=cursor)
    rows = await qs.order_by("-id").limit(limit + 1).select_related("service", "resident")
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def present(need: Need, *, cipher: FieldCipher, masked: bool = False) -> dict[str, Any]:
    """A need for the household and its station; ``masked`` (administrators) hides the place."""
    service: Service = need.service
    resident: ResidentProfile = need.resident
    location = None
    if need.location_enc:
        location = json.loads(cipher.decrypt(need.location_enc, context=LOCATION_CONTEXT))
        if masked:
            location = {"lat": round(location["lat"], 2), "lng": round(location["lng"], 2), "address": None}
    return {
        "id": need.id,
        "resident_id": need.resident_id,
        "resident_name": mask_name(resident.name) if isinstance(resident, ResidentProfile) else None,
        "station_id": need.station_id,
        "service_code": need.service_id,
        "service_name": service.name if isinstance(service, Service) else None,
        "description": need.description,
        "urgency": need.urgency,
        "window_start": need.window_start,
        "window_end": need.window_end,
        "location": location,
        "source": need.source,
        "on_behalf": need.on_behalf,
        "status": need.status,
        "status_reason": need.status_reason,
        "rating": None if need.rating_score is None else {
            "score": need.rating_score, "comment": need.rating_comment, "would_use_again": need.would_use_again,
            "rated_at": need.rated_at,
        },
        "follow_up": need.follow_up,
        "created_at": need.created_at,
        "updated_at": need.updated_at,
    }


async def load(*, need_id: int) -> Need:
    need = await Need.get_or_none(id=need_id).select_related("service", "resident")
    if need is None:
        raise NotFound("需求不存在")
    return need


async def timeline(*, need: Need) -> list[dict[str, Any]]:
    """The need's and its tasks' history, oldest first."""
    rows = await WorkflowEvent.filter(need_id=need.id).order_by("created_at", "id")
    return [
        {"subject": e.subject, "task_id": e.task_id, "claim_id": e.claim_id, "actor_id": e.actor_id,
         "actor_role": e.actor_role, "from": e.from_status, "to": e.to_status, "reason": e.reason,
         "at": e.created_at}
        for e in rows
    ]
