"""邻里互助: a household's neighbours registered as its helpers (任务五: 邻里互助帮扶; 机制四: 整合优化
结对帮扶、邻里互助、志愿服务等社会资源).

A worker of the household's station registers one of the station's approved volunteers as the
household's neighbour helper (one active tie per pair), and may then hand a slot of one of that
household's open tasks to them. The helper holds it as an assigned claim (claims.assign, as an
organisation's person does on accepting a referral): they check in, record and are confirmed and
credited as any volunteer. Only the fit to the service is checked again (the skill it needs, never
their own home); the claim limit and overlaps are not, as for any assignment: they agreed to help
this household. Ending a tie leaves the claims already made alone: the station cancels or
re-arranges those it no longer wants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from models import (
    CLAIM_ACTIVE,
    Need,
    NeighbourTie,
    ResidentProfile,
    Service,
    Task,
    TaskClaim,
    VolunteerProfile,
)
from server.errors import Conflict, NotFound, ValidationFailed
from server.notifications import notify
from server.pii import mask_name
from server.workflow import claims, events, tasks


class TieExists(Conflict):
    code = "NEIGHBOUR_TIE_EXISTS"
    message = "该志愿者已是这户居民的邻里互助人"


class NotNeighbourHelper(Conflict):
    code = "NOT_NEIGHBOUR_HELPER"
    message = "该志愿者不是这户居民登记的邻里互助人"


class NoFreeSlot(Conflict):
    code = "NO_FREE_SLOT"
    message = "该任务已没有空余名额"


def _key(resident_id: int, volunteer_id: int) -> str:
    return f"{resident_id}:{volunteer_id}"


async def register(*, resident: ResidentProfile, volunteer_id: int, note: str, actor_id: int,
                   now: datetime) -> NeighbourTie:
    """The station registers one of its approved volunteers as the household's neighbour helper.
    Whose household it may be is the caller's access check (server.access)."""
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or volunteer.status != "approved" or volunteer.station_id != resident.station_id:
        # The station vouches for the helper: one of the volunteers it approved itself, not any
        # volunteer of the city, who never agreed to it.
        raise ValidationFailed("邻里互助人须为本驿站已审核通过的志愿者",
                               details=[{"field": "volunteer_id", "type": "not_station_volunteer"}])
    if resident.user_id is not None and resident.user_id == volunteer.user_id:
        raise ValidationFailed("不能登记为本人家庭的邻里互助人",
                               details=[{"field": "volunteer_id", "type": "own_household"}])
    key = _key(resident.id, volunteer.id)
    if await NeighbourTie.exists(active_key=key):
        raise TieExists()
    try:
        return await NeighbourTie.create(resident_id=resident.id, volunteer_id=volunteer.id,
                                         station_id=resident.station_id, note=note or "", active_key=key,
                                         created_by=actor_id, created_at=now)
    except IntegrityError:
        # Registered twice at once: the unique key let the other one in.
        raise TieExists() from None


async def end(*, resident: ResidentProfile, volunteer_id: int, actor_id: int, now: datetime) -> NeighbourTie:
    """The station ends the tie; the helper's claims already made stay as they are."""
    found = await NeighbourTie.get_or_none(active_key=_key(resident.id, volunteer_id))
    if found is None:
        raise NotFound("该志愿者不是这户居民的邻里互助人")
    tie = await NeighbourTie.select_for_update().get(id=found.id)
    if tie.ended_at is not None:
        raise NotFound("该志愿者不是这户居民的邻里互助人")
    await NeighbourTie.filter(id=tie.id).update(ended_at=now, ended_by=actor_id, active_key=None)
    await tie.refresh_from_db()
    return tie


async def end_for_household(*, resident_id: int, actor_id: int, now: datetime) -> int:
    """Every tie of a household whose assistance ends (退出): how many."""
    return await NeighbourTie.filter(resident_id=resident_id, ended_at__isnull=True).update(
        ended_at=now, ended_by=actor_id, active_key=None)


async def helpers_of(*, resident_id: int) -> list[NeighbourTie]:
    """A household's neighbour helpers, with their volunteer profiles, earliest first."""
    return await NeighbourTie.filter(resident_id=resident_id, ended_at__isnull=True).order_by("id") \
        .select_related("volunteer")


def present(tie: NeighbourTie, *, full_names: bool) -> dict[str, Any]:
    """A tie: the helper by name for the station, masked for anyone else (the household itself)."""
    volunteer = tie.volunteer
    return {"id": tie.id, "resident_id": tie.resident_id, "volunteer_id": tie.volunteer_id,
            "volunteer_name": volunteer.name if full_names else mask_name(volunteer.name),
            "volunteer_status": volunteer.status, "note": tie.note, "created_at": tie.created_at,
            "ended_at": tie.ended_at}


async def dispatch(*, task: Task, volunteer_id: int, actor_id: int, now: datetime) -> TaskClaim:
    """A slot of the household's open task for one of its neighbour helpers, as an assigned claim;
    refused, with nothing changed, for a volunteer without an active tie to the household, a task
    with no free slot or not open, or a helper who does not fit the service."""
    locked = await Task.select_for_update().get(id=task.id)
    need = await Need.get(id=locked.need_id)
    if not await NeighbourTie.exists(active_key=_key(need.resident_id, volunteer_id)):
        raise NotNeighbourHelper(details={"volunteer_id": volunteer_id})
    if locked.status == "claimed" or (locked.status == "open" and locked.claimed_count >= locked.volunteers_needed):
        raise NoFreeSlot(details={"volunteers_needed": locked.volunteers_needed})
    if locked.status != "open":
        task.status = locked.status
        raise events.invalid_state(task, "指派邻里互助人")
    volunteer = await VolunteerProfile.get(id=volunteer_id)
    if volunteer.status != "approved":
        raise ValidationFailed("该邻里互助人的志愿者资格已暂停,不能指派",
                               details=[{"field": "volunteer_id", "type": "not_approved_volunteer"}])
    tasks.check_fit(service=await Service.get(code=locked.service_id), volunteer=volunteer,
                    household=await ResidentProfile.get(id=need.resident_id))
    if await TaskClaim.exists(task_id=locked.id, volunteer_id=volunteer.id, status__in=CLAIM_ACTIVE):
        raise tasks.TaskAlreadyClaimed("该邻里互助人已领取该任务")
    # The timeline is the household's to read too: the helper by a masked name, as on its claim.
    await events.record(locked, need_id=locked.need_id, actor_id=actor_id, actor_role="worker",
                        from_status=locked.status, to_status=locked.status, now=now,
                        reason=f"邻里互助:指派给邻居{mask_name(volunteer.name)}")
    await Task.filter(id=task.id).update(delivery_way="neighbour")
    claim = await claims.assign(task=locked, volunteer=volunteer, now=now)
    # A claim they did not make, which lapses unless they check in on time: they must know.
    await notify.notify(user_id=volunteer.user_id, event="task_assigned", now=now, ctx={
        "task_id": task.id, "title": locked.title, "volunteer_name": volunteer.name, "start": locked.scheduled_start})
    task.status, task.claimed_count, task.delivery_way = locked.status, locked.claimed_count, "neighbour"
    return claim
