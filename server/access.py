"""Who may touch what: every handler that takes an id resolves it through one of these.

A caller who may not see a record gets 404, the same as for a record that does not exist, so
ids leak nothing (a worker of station A cannot learn that resident 17 lives at station B).
A caller who may see a record but not do the thing asked gets 403.
"""

from __future__ import annotations

from models import ResidentProfile, VolunteerProfile
from server.auth import Actor
from server.errors import Forbidden, NotFound


def is_worker_of(actor: Actor, station_id: int | None) -> bool:
    return actor.station_id is not None and actor.station_id == station_id


async def access_resident(actor: Actor, resident_id: int, *, purpose: str = "view") -> ResidentProfile:
    """Resolve a resident profile for ``purpose`` in view | unmask | edit.

    view:   the person themself, workers of the resident's station, administrators (masked).
    unmask: the person themself and workers of the station only (PIPL art. 28: sensitive data
            to those who need it); every such read is audited by the caller.
    edit:   workers of the station (on behalf of someone without a phone, 机制一).
    """
    resident = await ResidentProfile.get_or_none(id=resident_id)
    if resident is None or resident.status != "active":
        raise NotFound("居民档案不存在")
    own = resident.user_id is not None and resident.user_id == actor.id
    worker = is_worker_of(actor, resident.station_id)
    admin = actor.has("admin")
    if not (own or worker or admin):
        raise NotFound("居民档案不存在")
    if purpose == "unmask" and not (own or worker):
        raise Forbidden("仅本人或所属驿站工作人员可查看完整信息")
    if purpose == "edit" and not worker:
        raise Forbidden("仅所属驿站工作人员可代为编辑")
    return resident


async def access_volunteer_for_review(actor: Actor, volunteer_id: int) -> VolunteerProfile:
    """A volunteer application, for a worker of the station it applied to."""
    actor.require("worker")
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or not is_worker_of(actor, volunteer.station_id):
        raise NotFound("志愿者不存在")
    return volunteer


def require_worker_station(actor: Actor) -> int:
    """The caller's station, for routes that act on 'my station'."""
    actor.require("worker")
    assert actor.station_id is not None
    return actor.station_id
