"""Who may touch what: every handler that takes an id resolves it through one of these.

A caller who may not see a record gets 404, the same as for a record that does not exist, so
ids leak nothing (a worker of station A cannot learn that resident 17 lives at station B).
A caller who may see a record but not do the thing asked gets 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from models import (
    CLAIM_ENDED, Complaint, IdentityCase, Need, Pairing, PointsAccount, PointsEntry, Redemption, ResidentProfile, Station, Task, TaskClaim, Upload,
    VolunteerProfile,
)
from server import sql
from server.actors import Actor
from server.errors import Forbidden, NotFound, ValidationFailed
from server.people import residents
from server.workflow.needs import NoHousehold


def is_worker_of(actor: Actor, station_id: int | None) -> bool:
    return actor.station_id is not None and actor.station_id == station_id


# The household behind most checks, read by hand (the ORM's query building cost more than the read).
_RESIDENT = sql.Statement(lambda: f"SELECT {sql.columns(ResidentProfile, 'r')} FROM resident_profiles r WHERE r.id = %s")


async def access_resident(actor: Actor, resident_id: int, *, purpose: str = "view") -> ResidentProfile:
    """Resolve a resident profile for ``purpose`` in view | unmask | edit | reinstate.

    view:   the person themself, workers of the resident's station, administrators (masked).
    unmask: the person themself and workers of the station only (PIPL art. 28: sensitive data
            to those who need it); every such read is audited by the caller.
    edit:   workers of the station (on behalf of someone without a phone, 机制一); not while the
            household's assistance has ended (退出: 409 until it is brought back).
    reinstate: workers of the station, for a household whose assistance has ended.
    """
    found = await sql.rows(_RESIDENT, [resident_id])
    resident = sql.hydrate(ResidentProfile, found[0]) if found else None
    if resident is None or resident.status not in ("active", "exited"):
        raise NotFound("居民档案不存在")
    own = resident.user_id is not None and resident.user_id == actor.id
    worker = is_worker_of(actor, resident.station_id)
    admin = actor.has("admin")
    if not (own or worker or admin):
        raise NotFound("居民档案不存在")
    if purpose == "unmask" and not (own or worker):
        raise Forbidden("仅本人或所属驿站工作人员可查看完整信息")
    if purpose in ("edit", "reinstate") and not worker:
        raise Forbidden("仅所属驿站工作人员可代为编辑")
    if purpose == "edit" and resident.status == "exited":
        raise residents.HouseholdExited()
    return resident


async def access_need_household(actor: Actor, resident_id: int | None) -> tuple[ResidentProfile, bool]:
    """Whose need this is: the caller's own household (``resident_id`` None), or, for the workers of
    its station, one of their households (reported on its behalf, 代报 机制一). Returns it and
    whether it is reported on behalf."""
    if resident_id is None:
        resident = await ResidentProfile.get_or_none(user_id=actor.id, status="active")
        if resident is None:
            raise NoHousehold()
        return resident, False
    return await access_resident(actor, resident_id, purpose="edit"), True


async def access_volunteer_for_review(actor: Actor, volunteer_id: int) -> VolunteerProfile:
    """A volunteer application, for a worker of the station it applied to."""
    actor.require("worker")
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or not is_worker_of(actor, volunteer.station_id):
        raise NotFound("志愿者不存在")
    return volunteer


async def access_volunteer(actor: Actor, volunteer_id: int) -> VolunteerProfile:
    """A volunteer, for the workers of their station and administrators (their hours certificate)."""
    actor.require("worker", "admin")
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or not (actor.has("admin") or is_worker_of(actor, volunteer.station_id)):
        raise NotFound("志愿者不存在")
    return volunteer


def require_worker_station(actor: Actor) -> int:
    """The caller's station, for routes that act on 'my station'."""
    actor.require("worker")
    assert actor.station_id is not None
    return actor.station_id


async def access_identity_case(actor: Actor, case_id: int, *,
                               purpose: str = "view") -> tuple[IdentityCase, ResidentProfile | None]:
    """A case and its holder. view: workers of the holder's station or of the claimant's; settle:
    the holder's station, which registered the household the number belongs to."""
    station_id = require_worker_station(actor)
    case, holder = await residents.load_case(case_id=case_id)
    settler = residents.settling_station(case, holder)
    if station_id not in (settler, case.claimant_station_id):
        raise NotFound("核实事项不存在")
    if purpose == "settle" and station_id != settler:
        raise Forbidden("由持有该身份证号档案的驿站核实")
    return case, holder


async def access_need(actor: Actor, need_id: int, *, purpose: str = "view") -> Need:
    """Resolve a need for ``purpose`` in view | manage | household.

    view:      the household, workers of its station, administrators.
    manage:    workers of the station (accept, reject, dispatch tasks).
    household: the household itself or a worker of the station on its behalf (cancel, rate).
    """
    need = await Need.get_or_none(id=need_id).select_related("service", "resident")
    if need is None:
        raise NotFound("需求不存在")
    own = need.resident.user_id is not None and need.resident.user_id == actor.id
    worker = is_worker_of(actor, need.station_id)
    if not (own or worker or actor.has("admin")):
        raise NotFound("需求不存在")
    if purpose == "manage" and not worker:
        raise Forbidden("仅所属驿站工作人员可处理")
    if purpose == "household" and not (own or worker):
        raise Forbidden("仅本人或所属驿站工作人员可操作")
    return need


def sees_need_unmasked(actor: Actor, need: Need) -> bool:
    """Only the household and its station see where a need's service happens."""
    own = need.resident.user_id is not None and need.resident.user_id == actor.id
    return own or is_worker_of(actor, need.station_id)


async def task_viewer(actor: Actor, task: Task, *, as_claimant: bool = False) -> tuple[str, TaskClaim | None]:
    """How the caller relates to a task: worker | admin | household | claimant | browser.

    A worker of the station who also volunteers and holds a claim on the task is its worker,
    except ``as_claimant`` (checking in, recording, releasing: what only the claimant does)."""
    if is_worker_of(actor, task.station_id) and not as_claimant:
        return "worker", None
    volunteer = await VolunteerProfile.get_or_none(user_id=actor.id, status="approved") if actor.has("volunteer") else None
    if volunteer is not None:
        claim = await TaskClaim.filter(task_id=task.id, volunteer_id=volunteer.id).exclude(
            status__in=CLAIM_ENDED
        ).first()
        if claim is not None:
            return "claimant", claim
    if is_worker_of(actor, task.station_id):
        return "worker", None
    need = await Need.get(id=task.need_id).select_related("resident")
    if need.resident.user_id is not None and need.resident.user_id == actor.id:
        return "household", None
    if actor.has("admin"):
        return "admin", None
    if volunteer is not None and task.status == "open":
        return "browser", None
    raise NotFound("任务不存在")


async def access_task(actor: Actor, task_id: int, *, purpose: str = "view") -> tuple[Task, str, TaskClaim | None]:
    """Resolve a task for ``purpose`` in view | claim | claimant | manage."""
    task = await Task.get_or_none(id=task_id).select_related("service")
    if task is None:
        raise NotFound("任务不存在")
    if purpose == "claim":
        actor.require("volunteer")
        if task.status == "open" or (task.status == "claimed" and not is_worker_of(actor, task.station_id)):
            # Anyone racing for the last slot learns they lost (409 from the claim check), not 404.
            return task, "browser", None
    viewer, claim = await task_viewer(actor, task, as_claimant=purpose == "claimant")
    if purpose == "manage" and viewer != "worker":
        raise Forbidden("仅所属驿站工作人员可操作")
    if purpose == "claimant" and viewer != "claimant":
        raise NotFound("您没有领取该任务") if viewer == "browser" else Forbidden("仅领取任务的志愿者可操作")
    return task, viewer, claim


async def access_household_for_plate(actor: Actor, resident_id: int) -> ResidentProfile:
    """Printing a household's QR plate is a station job."""
    actor.require("worker")
    return await access_resident(actor, resident_id, purpose="edit")


async def access_upload(actor: Actor, upload_id: int) -> Upload:
    """A photo ``actor`` may look at: their own, one of a service record at their station (the
    worker who confirms the service sees its evidence), or any, for an admin."""
    upload = await Upload.get_or_none(id=upload_id)
    if upload is not None and (upload.owner_id == actor.id or actor.has("admin")):
        return upload
    if upload is not None and actor.has("worker"):
        held = await TaskClaim.filter(volunteer__user_id=upload.owner_id, task__station_id=actor.station_id).values_list(
            "photos", flat=True)
        if any(upload.id in (photos or []) for photos in held):
            return upload
    raise NotFound("图片不存在")


async def access_points_entry(actor: Actor, entry_id: int) -> PointsEntry:
    """A ledger entry, for reversal by an administrator or a worker of the station answerable for
    it: for a service's award, the station that confirmed the service (the household's, which
    verified it happened, wherever the volunteer is registered); for anything else, the
    volunteer's."""
    actor.require("worker", "admin")
    entry = await PointsEntry.get_or_none(id=entry_id).select_related("account")
    if entry is None:
        raise NotFound("积分记录不存在")
    if actor.has("admin"):
        return entry
    if entry.ref_type == "claim":
        claim = await TaskClaim.get_or_none(id=entry.ref_id).select_related("task")
        station_id = claim.task.station_id if claim is not None else None
    else:
        volunteer = await VolunteerProfile.get_or_none(user_id=entry.account.user_id)
        station_id = volunteer.station_id if volunteer is not None else None
    if station_id is None or not is_worker_of(actor, station_id):
        raise NotFound("积分记录不存在")
    return entry


async def leaderboard_scope(actor: Actor, scope: str) -> int:
    """Which station or district board the caller sees: their own (volunteer's, else worker's)."""
    if scope == "city":
        return 0
    volunteer = await VolunteerProfile.get_or_none(user_id=actor.id)
    station_id = volunteer.station_id if volunteer else actor.station_id
    if station_id is None:
        raise NotFound("您尚未加入任何驿站")
    if scope == "station":
        return station_id
    station = await Station.get(id=station_id)
    return station.district_id


async def access_redemption(actor: Actor, redemption_id: int, *, account: PointsAccount) -> Redemption:
    """One of the caller's own redemptions (anyone else's is a 404)."""
    redemption = await Redemption.get_or_none(id=redemption_id)
    if redemption is None or redemption.account_id != account.id:
        raise NotFound("兑换记录不存在")
    return redemption


async def access_station_ranking(actor: Actor, station_id: int) -> None:
    """A station's ranking: its workers, and administrators for any station."""
    if actor.has("admin"):
        if not await Station.exists(id=station_id):
            raise NotFound("驿站不存在")
        return
    actor.require("worker")
    if not is_worker_of(actor, station_id):
        raise NotFound("驿站不存在")


async def stats_scope(actor: Actor, scope: str, scope_id: int | None) -> int | None:
    """Workers see their own station's statistics; administrators any station, district or the city."""
    if actor.has("admin"):
        if scope == "city":
            return None
        if scope_id is None:
            raise ValidationFailed("请指定 id", details=[{"field": "id", "type": "missing"}])
        return scope_id
    actor.require("worker")
    if scope != "station" or (scope_id is not None and scope_id != actor.station_id):
        raise Forbidden("仅可查看本驿站统计")
    return actor.station_id


def ledger_scope(actor: Actor, *, station_id: int | None, unmasked: bool) -> int | None:
    """Which station's ledger the caller may export: workers their own, administrators any or all.
    Full personal data only for the station that keeps the households (as for unmasked reads)."""
    actor.require("worker", "admin")
    if not actor.has("admin") and station_id not in (None, actor.station_id):
        raise Forbidden("仅可导出本驿站台账")
    scope = station_id if actor.has("admin") else actor.station_id
    if unmasked and (actor.station_id is None or scope != actor.station_id):
        raise Forbidden("仅所属驿站工作人员可导出完整个人信息")
    return scope


def deadlines_scope(actor: Actor, *, station_id: int | None = None) -> list[int] | None:
    """Whose reminders and escalations of late work (督办) the caller reads: a worker the station's,
    an administrator all (or one station's, when named). None: every station."""
    if actor.has("admin"):
        return None if station_id is None else [station_id]
    if actor.has("worker") and actor.station_id is not None:
        return [actor.station_id]
    raise Forbidden("仅驿站工作人员和管理员可以查看督办记录")


def sees_visit_notes(actor: Actor, resident: ResidentProfile) -> bool:
    """Visit notes are for the station that keeps the household."""
    return is_worker_of(actor, resident.station_id)


@dataclass(frozen=True)
class PairingTies:
    """The volunteer profiles and households that are the caller's own."""

    volunteer_ids: frozenset[int]
    resident_ids: frozenset[int]


async def pairing_ties(actor: Actor) -> PairingTies:
    return PairingTies(
        volunteer_ids=frozenset(await VolunteerProfile.filter(user_id=actor.id).values_list("id", flat=True)),
        resident_ids=frozenset(await ResidentProfile.filter(user_id=actor.id).values_list("id", flat=True)),
    )


def pairing_viewer(actor: Actor, pairing: Pairing, ties: PairingTies) -> str | None:
    """How the caller relates to a pairing: worker | volunteer | org_staff | household | admin."""
    if is_worker_of(actor, pairing.station_id):
        return "worker"
    if pairing.volunteer_id is not None and pairing.volunteer_id in ties.volunteer_ids:
        return "volunteer"
    if pairing.organization_id is not None and actor.organization_id == pairing.organization_id:
        return "org_staff"
    if pairing.resident_id in ties.resident_ids:
        return "household"
    if actor.has("admin"):
        return "admin"
    return None


async def access_pairing(actor: Actor, pairing_id: int, *, purpose: str = "view") -> tuple[Pairing, str]:
    """view: the station's workers, the paired volunteer, the paired organisation's staff, the
    household, administrators. end: all of those but the household and administrators."""
    pairing = await Pairing.get_or_none(id=pairing_id)
    viewer = pairing_viewer(actor, pairing, await pairing_ties(actor)) if pairing is not None else None
    if viewer is None:
        raise NotFound("结对不存在")
    if purpose == "end" and viewer not in ("worker", "volunteer", "org_staff"):
        raise Forbidden("仅驿站工作人员或结对双方可结束结对")
    return pairing, viewer


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def require_metrics_access(*, token: str, authorization: str, client_ip: str) -> None:
    """/metrics: with HAIBEI_METRICS_TOKEN set, only its bearer; without, only loopback callers."""
    if token:
        given = authorization.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Forbidden("需要监控令牌")
    elif client_ip not in LOOPBACK:
        raise Forbidden("仅限本机访问,或设置 HAIBEI_METRICS_TOKEN")


async def access_complaint(actor: Actor, complaint_id: int, *, purpose: str = "view") -> Complaint:
    """A complaint. view: its complainant (or the worker who filed it), the workers of its station,
    administrators; answer: the station's workers, or administrators once it is escalated."""
    complaint = await Complaint.get_or_none(id=complaint_id)
    if complaint is None:
        raise NotFound("投诉不存在")
    own = actor.id in (complaint.complainant_user_id, complaint.filed_by)
    worker = is_worker_of(actor, complaint.station_id)
    admin = actor.has("admin")
    if not (own or worker or admin):
        raise NotFound("投诉不存在")
    if purpose == "answer" and not (worker or (admin and complaint.status == "escalated")):
        raise Forbidden("仅所属驿站工作人员可以答复投诉")
    return complaint
