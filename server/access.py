"""Who may touch what: every handler that takes an id resolves it through one of these.

A caller who may not see a record gets 404, the same as for a record that does not exist, so
ids leak nothing (a worker of station A cannot learn that resident 17 lives at station B).
A caller who may see a record but not do the thing asked gets 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from models import (
    CLAIM_ENDED, Complaint, Department, DepartmentReferral, IdentityCase, Need, Organization, Pairing, PointsAccount,
    PointsEntry, Project, Redemption, ResidentProfile, Station, Task, TaskClaim, Upload, UserRole, VolunteerProfile,
)
from server import sql
from server.actors import Actor
from server.errors import Forbidden, NotFound, ValidationFailed
from server.people import residents
from server.reference import places
from server.workflow.needs import NoHousehold


def is_worker_of(actor: Actor, station_id: int | None) -> bool:
    return actor.station_id is not None and actor.station_id == station_id


# --- administrators: the city's, and each district's own ------------------------------------
#
# A district administrator (区市民政) oversees its own district as a city administrator oversees
# the city: its stations, their staff, records and statistics, its projects and its catalogue
# standards (任务五: 各区市结合实际制定本辖区服务标准; 机制二/三: 各区市 run the stations and buy the
# services). What is the city's alone — districts, the catalogue itself, points rules, rewards,
# the 信用威海 handoff — stays with city administrators. Another district's records are 404 to it,
# as any record a caller may not see.

ADMINS = ("admin", "district_admin")


def require_admin(actor: Actor) -> int | None:
    """A city or district administrator; returns the district they are confined to (None: the city)."""
    actor.require(*ADMINS)
    return None if actor.has("admin") else actor.district_id


def oversees_district(actor: Actor, district_id: int | None) -> bool:
    """City administrators oversee every district; a district administrator only its own."""
    return actor.has("admin") or (actor.district_id is not None and actor.district_id == district_id)


async def oversees_station(actor: Actor, station_id: int | None) -> bool:
    """Whether the caller administers ``station_id``: any for the city's, their district's for a
    district administrator (one read, only for them)."""
    if actor.has("admin"):
        return True
    if actor.district_id is None or station_id is None:
        return False
    return await places.district_of(station_id=station_id) == actor.district_id


async def district_station_ids(actor: Actor) -> list[int] | None:
    """The stations an administrator's lists are confined to: None for the city's (all of them),
    their district's for a district administrator."""
    district_id = require_admin(actor)
    return None if district_id is None else await places.station_ids(district_id=district_id)


async def access_district(actor: Actor, district_id: int) -> int:
    """A district, for its own administrators and the city's (another district's is 404)."""
    require_admin(actor)
    if not oversees_district(actor, district_id):
        raise NotFound("区市不存在")
    await places.get_district(district_id=district_id)
    return district_id


async def access_organization(actor: Actor, organization_id: int, *, purpose: str = "view") -> Organization:
    """A provider organisation, for administrators. view: the city's any; a district's its own
    district's and the city-wide ones (which it may buy from). edit: the city's any, a district's
    only its own district's (a city-wide one is the city's to keep: 403)."""
    district_id = require_admin(actor)
    org = await places.get_organization(organization_id=organization_id)
    if district_id is None or org.district_id == district_id:
        return org
    if org.district_id is not None:
        raise NotFound("机构不存在")
    if purpose == "edit":
        raise Forbidden("全市性机构由市级管理员维护")
    return org


async def access_project(actor: Actor, project_id: int) -> Project:
    """A purchased-service project: the city's administrators any, a district's its own district's
    (保障四: districts buy services); another's is 404."""
    district_id = require_admin(actor)
    project = await Project.get_or_none(id=project_id)
    if project is None or (district_id is not None and project.district_id != district_id):
        raise NotFound("项目不存在")
    return project


async def project_district(actor: Actor, *, asked: int | None, organization_id: int, station_ids: list[int]) -> int | None:
    """The district a new project is bought by: a district administrator's own (its stations and
    provider within its reach, 404 otherwise); a city administrator's choice (None: the city's)."""
    if require_admin(actor) is not None:
        await access_organization(actor, organization_id)
        await check_stations_overseen(actor, station_ids)
    elif asked is not None:
        await places.get_district(district_id=asked)
    return await own_district(actor, asked)


async def audit_reach(actor: Actor) -> dict[str, Any]:
    """What of the audit trail an auditor reads: the city's administrators all of it; a district's
    the rows about its households and those its own staff wrote (the filters to add)."""
    district_id = require_admin(actor)
    if district_id is None:
        return {}
    return {"district_id": district_id, "stations": tuple(await places.station_ids(district_id=district_id))}


async def access_department(actor: Actor, department_id: int, *, purpose: str = "view") -> Department:
    """A department tasks are referred to (部门联动), as organisations are: the city's administrators
    any; a district's its own district's (edit) and the city's own municipal ones (view only)."""
    district_id = require_admin(actor)
    department = await Department.get_or_none(id=department_id)
    if department is None or (district_id is not None and department.district_id not in (None, district_id)):
        raise NotFound("部门不存在")
    if purpose == "edit" and district_id is not None and department.district_id != district_id:
        raise Forbidden("市级部门由市级管理员维护")
    return department


async def check_stations_overseen(actor: Actor, station_ids: list[int], *, field: str = "station_ids") -> None:
    """Every one of ``station_ids`` is the caller's to administer (a district's administrator cannot
    put another district's station into its projects or organisations): 404 naming the field."""
    for station_id in station_ids:
        if not await oversees_station(actor, station_id):
            raise NotFound("驿站不存在", details=[{"field": field, "type": "unknown_station", "id": station_id}])


async def check_staff_binding(actor: Actor, *, role: str, station_id: int | None,
                              organization_id: int | None) -> None:
    """Whether the caller may give ``role`` bound there: the city's administrators any; a district's
    administrator workers of its stations and staff of its organisations, never another district
    administrator (the city appoints those)."""
    if require_admin(actor) is None:
        return
    if role == "district_admin":
        raise Forbidden("区市管理员由市级管理员任命")
    if station_id is not None and not await oversees_station(actor, station_id):
        raise NotFound("驿站不存在")
    if organization_id is not None:
        await access_organization(actor, organization_id, purpose="edit")


async def access_staff_grant(actor: Actor, *, user_id: int, role: str) -> UserRole:
    """A role held by someone, for taking it away: the city's administrators any; a district's only
    what it could have given (404 for anything else, as for someone it cannot see)."""
    require_admin(actor)
    grant = await UserRole.get_or_none(user_id=user_id, role=role)
    if grant is None:
        raise NotFound("该用户没有此角色")
    try:
        await check_staff_binding(actor, role=role, station_id=grant.station_id,
                                  organization_id=grant.organization_id)
    except (NotFound, Forbidden):
        raise NotFound("该用户没有此角色") from None
    return grant


async def own_district(actor: Actor, asked: int | None) -> int | None:
    """The district a record the caller makes or moves is kept in (an organisation, a department):
    a district administrator's own whatever was asked (another district's is 404, as a district it
    cannot see); a city administrator's choice (None: the city's own)."""
    district_id = require_admin(actor)
    if district_id is None:
        return asked
    return await access_district(actor, asked or district_id)


async def access_station_admin(actor: Actor, station_id: int) -> int:
    """A station, for administering it (its details, its workers): the city's administrators and its
    district's; 404 to anyone else."""
    require_admin(actor)
    if not await oversees_station(actor, station_id):
        raise NotFound("驿站不存在")
    await places.get_station(station_id=station_id)
    return station_id


# The household behind most checks, read by hand (the ORM's query building cost more than the read).
_RESIDENT = sql.Statement(lambda: f"SELECT {sql.columns(ResidentProfile, 'r')} FROM resident_profiles r WHERE r.id = %s")


async def access_resident(actor: Actor, resident_id: int, *, purpose: str = "view") -> ResidentProfile:
    """Resolve a resident profile for ``purpose`` in view | unmask | edit | reinstate.

    view:   the person themself, workers of the resident's station, administrators of the city or
            the station's district (masked).
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
    if not (own or worker or await oversees_station(actor, resident.station_id)):
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
    """A volunteer, for the workers of their station and its administrators (their hours certificate)."""
    actor.require("worker", *ADMINS)
    volunteer = await VolunteerProfile.get_or_none(id=volunteer_id)
    if volunteer is None or not (is_worker_of(actor, volunteer.station_id)
                                 or await oversees_station(actor, volunteer.station_id)):
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

    view:      the household, workers of its station, its administrators (city, district).
    manage:    workers of the station (accept, reject, dispatch tasks).
    household: the household itself or a worker of the station on its behalf (cancel, rate).
    """
    need = await Need.get_or_none(id=need_id).select_related("service", "resident")
    if need is None:
        raise NotFound("需求不存在")
    own = need.resident.user_id is not None and need.resident.user_id == actor.id
    worker = is_worker_of(actor, need.station_id)
    if not (own or worker or await oversees_station(actor, need.station_id)):
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
    if await oversees_station(actor, task.station_id):
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
    """A station's ranking: its workers, and its administrators (the city's, its district's)."""
    if actor.has("admin") or actor.has("district_admin"):
        if not await oversees_station(actor, station_id) or not await Station.exists(id=station_id):
            raise NotFound("驿站不存在")
        return
    actor.require("worker")
    if not is_worker_of(actor, station_id):
        raise NotFound("驿站不存在")


async def stats_scope(actor: Actor, scope: str, scope_id: int | None) -> int | None:
    """Workers see their own station's statistics; city administrators any station, district or the
    city; a district administrator its district (the default) or one of its stations."""
    if actor.has("admin"):
        if scope == "city":
            return None
        if scope_id is None:
            raise ValidationFailed("请指定 id", details=[{"field": "id", "type": "missing"}])
        return scope_id
    if actor.has("district_admin"):
        if scope == "city":
            raise Forbidden("仅可查看本区市统计")
        if scope == "district":
            if scope_id is not None and scope_id != actor.district_id:
                raise NotFound("区市不存在")
            return actor.district_id
        if scope_id is None:
            raise ValidationFailed("请指定 id", details=[{"field": "id", "type": "missing"}])
        if not await oversees_station(actor, scope_id):
            raise NotFound("驿站不存在")
        return scope_id
    actor.require("worker")
    if scope != "station" or (scope_id is not None and scope_id != actor.station_id):
        raise Forbidden("仅可查看本驿站统计")
    return actor.station_id


@dataclass(frozen=True)
class Reach:
    """The stations an export covers (None: the whole city) and what its heading calls them."""

    stations: list[int] | None
    place: str


async def ledger_scope(actor: Actor, *, station_id: int | None, unmasked: bool) -> Reach:
    """Which stations' ledger the caller may export: workers their own station's, a district
    administrator their district's or one of its stations', city administrators any station's or
    the city's. Full personal data only for the station that keeps the households (as for
    unmasked reads)."""
    actor.require("worker", *ADMINS)
    if actor.has("admin") or actor.has("district_admin"):
        if station_id is not None:
            if not await oversees_station(actor, station_id):
                raise NotFound("驿站不存在")
            reach = Reach([station_id], (await places.get_station(station_id=station_id)).name)
        elif actor.has("admin"):
            reach = Reach(None, "全市")
        else:
            district = await places.get_district(district_id=actor.district_id)
            reach = Reach(await places.station_ids(district_id=district.id), district.name)
    else:
        if station_id not in (None, actor.station_id):
            raise Forbidden("仅可导出本驿站台账")
        reach = Reach([actor.station_id], (await places.get_station(station_id=actor.station_id)).name)
    if unmasked and (actor.station_id is None or reach.stations != [actor.station_id]):
        raise Forbidden("仅所属驿站工作人员可导出完整个人信息")
    return reach


async def deadlines_scope(actor: Actor, *, station_id: int | None = None) -> list[int] | None:
    """Whose reminders and escalations of late work (督办) the caller reads: a worker the station's,
    a district administrator the district's, a city administrator all (or, for either, one
    station's, when named). None: every station."""
    if actor.has("admin") or actor.has("district_admin"):
        if station_id is not None:
            if not await oversees_station(actor, station_id):
                raise NotFound("驿站不存在")
            return [station_id]
        return await district_station_ids(actor)
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
    # The stations a district administrator oversees (empty for anyone else).
    overseen_station_ids: frozenset[int] = frozenset()


async def pairing_ties(actor: Actor) -> PairingTies:
    overseen = await places.station_ids(district_id=actor.district_id) if actor.district_id is not None else []
    return PairingTies(
        volunteer_ids=frozenset(await VolunteerProfile.filter(user_id=actor.id).values_list("id", flat=True)),
        resident_ids=frozenset(await ResidentProfile.filter(user_id=actor.id).values_list("id", flat=True)),
        overseen_station_ids=frozenset(overseen),
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
    if actor.has("admin") or pairing.station_id in ties.overseen_station_ids:
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
    its administrators (the city's, its district's); answer: the station's workers, or those
    administrators once it is escalated."""
    complaint = await Complaint.get_or_none(id=complaint_id)
    if complaint is None:
        raise NotFound("投诉不存在")
    own = actor.id in (complaint.complainant_user_id, complaint.filed_by)
    worker = is_worker_of(actor, complaint.station_id)
    admin = await oversees_station(actor, complaint.station_id)
    if not (own or worker or admin):
        raise NotFound("投诉不存在")
    if purpose == "answer" and not (worker or (admin and complaint.status == "escalated")):
        raise Forbidden("仅所属驿站工作人员可以答复投诉")
    return complaint

# --- 部门联动 and 邻里互助 (server/workflow/departments.py, neighbours.py) ----------------------------


async def access_department_referral(actor: Actor, referral_id: int, *, purpose: str = "view") -> DepartmentReferral:
    """A task's referral to a department. view: the workers of its station, administrators of the
    city or the station's district; answer (record what the department did): the station's workers."""
    referral = await DepartmentReferral.get_or_none(id=referral_id)
    if referral is None:
        raise NotFound("部门转介不存在")
    worker = is_worker_of(actor, referral.station_id)
    if not (worker or await oversees_station(actor, referral.station_id)):
        raise NotFound("部门转介不存在")
    if purpose == "answer" and not worker:
        raise Forbidden("仅所属驿站工作人员可记录部门反馈")
    return referral


async def access_neighbour_household(actor: Actor, resident_id: int, *, purpose: str = "view") -> ResidentProfile:
    """A household's neighbour helpers (邻里互助). view: the household itself, the workers of its
    station, administrators of the city or its district; register: the station's workers, while the
    household is assisted (退出: 409); end: the station's workers."""
    resident = await access_resident(actor, resident_id, purpose="edit" if purpose == "register" else "view")
    if purpose == "end" and not is_worker_of(actor, resident.station_id):
        raise Forbidden("仅所属驿站工作人员可操作")
    return resident
