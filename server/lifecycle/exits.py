"""A household's assistance ended (退出) and brought back (恢复), 威民发〔2024〕27号 动态管理: when it
moves away, dies, is no longer eligible or asks to leave, the station ends its assistance.

Ending it ends what it had going, as closing an account does (needs not yet under way cancelled,
their tasks, claims and referrals with them, pairings ended, everyone told), keeps its history, and
takes it out of the station's queues, rankings and recommendations (they read active households).
Unlike closing an account nothing is erased: the household can be brought back, with a new
assessment due at once.
"""

from __future__ import annotations

from datetime import datetime

from models import Assessment, Need, Pairing, ResidentProfile, Task, TaskClaim
from server import audit, labels
from server.actors import Actor
from server.errors import Conflict
from server.workflow import flows, neighbours, pairings, tasks

REASONS = labels.EXIT_REASON


class ServiceUnderWay(Conflict):
    code = "SERVICE_IN_PROGRESS"
    message = "该居民有正在进行中的服务(志愿者已签到),请在服务结束后再办理退出"


async def exit_household(*, resident: ResidentProfile, actor: Actor, reason: str, note: str | None,
                         now: datetime) -> ResidentProfile:
    """End the household's assistance; refused (nothing changed) while a volunteer is at work there."""
    locked = await ResidentProfile.select_for_update().get(id=resident.id)
    if locked.status != "active":
        return locked
    if await TaskClaim.exists(task__need__resident_id=resident.id, status="checked_in"):
        raise ServiceUnderWay()
    why = f"居民退出救助:{REASONS[reason]}"
    for need in await Need.filter(resident_id=resident.id, status__in=("submitted", "accepted", "dispatched")):
        await flows.cancel_need(need=need, actor=actor, role="worker", reason=why, now=now)
    # A need in service (a pairing between visits) stays as history; what is still to come ends.
    for pairing in await Pairing.filter(resident_id=resident.id, status="active"):
        await pairings.end(pairing=pairing, actor_id=actor.id, role="worker", reason=why, now=now)
    for task in await Task.filter(need__resident_id=resident.id, status__in=("open", "claimed")):
        await tasks.cancel(task=task, actor_id=actor.id, reason=why, now=now, role="worker")
    # Its neighbours are no longer its helpers (邻里互助); a household brought back is registered anew.
    await neighbours.end_for_household(resident_id=resident.id, actor_id=actor.id, now=now)
    await ResidentProfile.filter(id=resident.id).update(status="exited", exit_reason=reason, exit_note=note,
                                                        exited_at=now, exited_by=actor.id)
    await audit.record(actor_id=actor.id, action="resident.exit", subject_type="resident", subject_id=resident.id,
                       detail={"reason": reason, "note": note})
    return await ResidentProfile.get(id=resident.id)


async def reinstate(*, resident: ResidentProfile, actor: Actor, now: datetime) -> ResidentProfile:
    """Bring an exited household back; its circumstances may have changed, so its re-assessment is
    due at once (a household never assessed is listed as such anyway). One already back is left as it
    is (a second click, or a colleague's)."""
    locked = await ResidentProfile.select_for_update().get(id=resident.id)
    if locked.status != "exited":
        return locked
    await ResidentProfile.filter(id=resident.id).update(status="active", exit_reason=None, exit_note=None,
                                                        exited_at=None, exited_by=None)
    latest = await Assessment.filter(resident_id=resident.id).order_by("-visited_at", "-id").first()
    if latest is not None:
        await Assessment.filter(id=latest.id).update(due_at=now, reminded_at=None)
    await audit.record(actor_id=actor.id, action="resident.reinstate", subject_type="resident",
                       subject_id=resident.id, detail={"exit_reason": locked.exit_reason})
    return await ResidentProfile.get(id=resident.id)


async def exits_for(*, station_id: int) -> list[ResidentProfile]:
    """A station's exited households, most recent first."""
    return await ResidentProfile.filter(station_id=station_id, status="exited").order_by("-exited_at").limit(500)
