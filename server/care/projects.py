"""Purchased-service projects (政府购买服务) supervised over their whole life (保障四: 立项、
中期实施、后期验收). KPIs are computed from the real task data, never typed in.

A project covers the tasks of its services at its stations scheduled within its period, and its
KPIs count only the provider's own work there: services by the organisation's people (its staff,
and the volunteers it assigned when it accepted a referral, who are its members), and referrals it
accepted. A volunteer with no link to the provider who serves at the same station earns it nothing.
Each KPI can be traced to its tasks (``evidence``). The provider must hold every qualification
机制二 asks (legal capacity, staff, facilities, finance) when the project is proposed, approved
(立项) and accepted (验收). Targets set at 立项 are compared at 验收: a project that misses one
cannot be accepted, only failed. Money is paid against the budget (拨付): advances while it runs,
the final payment once accepted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from models import (
    Need, OrgReferral, Organization, Project, ProjectPayment, ProjectStep, Station, Task, TaskClaim, UserRole,
    VolunteerProfile,
)
from server import audit, labels
from server.care import complaints
from server.errors import Conflict, NotFound, ValidationFailed
from server.points import ledger
from server.reference import catalogue
from server.workflow import events, referrals

# to: (allowed from, what the step is called)
STEPS = {
    "approved": (("proposed",), "立项"),
    "in_progress": (("approved",), "实施"),
    "acceptance_pending": (("in_progress",), "申请验收"),
    "accepted": (("acceptance_pending",), "验收通过"),
    "failed": (("in_progress", "acceptance_pending"), "验收不通过"),
}

STATUS_NAMES = {"proposed": "申报", **{to: name for to, (_, name) in STEPS.items()}}


# The KPIs a target may be set for at 立项, and which way is better: at least (>=) or at most (<=).
TARGETS = {"tasks_done": ">=", "verified_hours": ">=", "on_time_rate": ">=", "average_rating": ">=",
           "referrals_accepted": ">=", "complaints": "<=", "low_ratings": "<="}


class ProviderNotQualified(Conflict):
    code = "PROVIDER_NOT_QUALIFIED"
    message = "承接机构资质不全或已过期,不能立项或验收"


class TargetsNotMet(Conflict):
    code = "TARGETS_NOT_MET"
    message = "项目未达到立项时设定的绩效目标,不能验收通过"


class TargetsRequired(ValidationFailed):
    message = "立项时须设定至少一项绩效目标"


class PaymentRefused(Conflict):
    code = "PAYMENT_REFUSED"
    message = "不能登记这笔拨付"


def check_provider(org: Organization, *, now: datetime) -> None:
    """Refuse a provider that lacks, or holds expired, a qualification 机制二 asks, naming each."""
    missing = referrals.missing_qualifications(org=org, now=now)
    if missing:
        names = "、".join(labels.label("qualification_kind", k) for k in missing)
        raise ProviderNotQualified(f"承接机构「{org.name}」缺少或已过期的资质:{names}",
                                   details={"missing": [{"kind": k, "label": labels.label("qualification_kind", k)}
                                                        for k in missing]})


async def create(*, data: dict[str, Any], actor_id: int, now: datetime) -> Project:
    org = await Organization.get_or_none(id=data["organization_id"])
    if org is None:
        raise ValidationFailed("机构不存在", details=[{"field": "organization_id", "type": "unknown_reference"}])
    if data["ends_at"] <= data["starts_at"]:
        raise ValidationFailed("结束时间须晚于开始时间", details=[{"field": "ends_at", "type": "ends_before_start"}])
    # A project counts the tasks of these services at these stations: a name that matches none
    # would leave it counting nothing, found only at acceptance.
    await catalogue.check_codes(codes=data["services"], field="services")
    stations = Station.filter(id__in=data["station_ids"])
    if data.get("district_id") is not None:
        # A district's project buys services for its own stations (保障四: districts buy services).
        stations = stations.filter(district_id=data["district_id"])
    if await stations.count() != len(set(data["station_ids"])):
        raise ValidationFailed("驿站不存在", details=[{"field": "station_ids", "type": "not_found"}])
    check_provider(org, now=now)  # what was typed is right: is the provider fit to be proposed?
    project = await Project.create(created_by=actor_id, **data)
    await ProjectStep.create(project_id=project.id, from_status=None, to_status="proposed", actor_id=actor_id,
                             created_at=now)
    return project


def _filtered(*, status: str | None = None, organization_id: int | None = None, district_id: int | None = None):
    qs = Project.all()
    if district_id is not None:
        qs = qs.filter(district_id=district_id)
    if status:
        qs = qs.filter(status=status)
    if organization_id:
        qs = qs.filter(organization_id=organization_id)
    return qs


async def count_projects(*, status: str | None = None, organization_id: int | None = None,
                         district_id: int | None = None) -> int:
    """How many projects there are (in a status, of an organisation, of a district)."""
    return await _filtered(status=status, organization_id=organization_id, district_id=district_id).count()


async def list_projects(*, offset: int = 0, limit: int | None = None, status: str | None = None,
                        organization_id: int | None = None, station_id: int | None = None,
                        district_id: int | None = None) -> list[Project]:
    """Projects, the newest first, with their organisation loaded; one page of them with ``limit``.
    ``station_id``: those that cover the station (a JSON list: filtered here, projects are few);
    ``district_id``: a district's own."""
    qs = _filtered(status=status, organization_id=organization_id, district_id=district_id) \
        .select_related("organization").order_by("-id")
    if station_id is not None:
        rows = [p for p in await qs if station_id in (p.station_ids or [])]
        return rows[offset:offset + limit] if limit is not None else rows[offset:]
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    return await qs


def next_steps(*, status: str) -> list[str]:
    """The steps a project in ``status`` may take next, in lifecycle order."""
    return [to for to, (allowed, _) in STEPS.items() if status in allowed]


async def get(*, project_id: int) -> Project:
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise NotFound("项目不存在")
    return project


async def _provider_people(organization_id: int) -> set[int]:
    """The volunteer profiles of the organisation's people (its staff members)."""
    users = await UserRole.filter(role="org_staff", organization_id=organization_id).values_list("user_id", flat=True)
    return set(await VolunteerProfile.filter(user_id__in=list(users) or [0]).values_list("id", flat=True))


async def evidence(*, project: Project, grace_minutes: int) -> dict[str, Any]:
    """What the KPIs count, traceable: the project's tasks (its services, stations and period) that
    the provider served (a counted service by one of its people) or took on (a referral it
    accepted), each with the provider's services on it."""
    scope = Task.filter(station_id__in=project.station_ids or [0], service_id__in=project.services or [""],
                        scheduled_start__gte=project.starts_at, scheduled_start__lt=project.ends_at)
    in_scope = {t.id: t for t in await scope}
    people = await _provider_people(project.organization_id)
    # Services that count: a confirmed claim whose award a station reversed did not happen as
    # recorded (ledger.counted_claims), as the ledgers, the statistics and the volunteer's hours say.
    claims = [c for c in await ledger.counted_claims().filter(task_id__in=list(in_scope) or [0])
              if c.volunteer_id in people]
    accepted = set(await OrgReferral.filter(task_id__in=list(in_scope) or [0], organization_id=project.organization_id,
                                            status="accepted").values_list("task_id", flat=True))
    tasks = {tid: t for tid, t in in_scope.items() if tid in accepted or any(c.task_id == tid for c in claims)}
    grace = timedelta(minutes=grace_minutes)
    return {"tasks": tasks, "claims": claims, "referrals_accepted": accepted, "grace": grace, "people": people}


async def kpis(*, project: Project, grace_minutes: int) -> dict[str, Any]:
    """Over the provider's own work (``evidence``): tasks, tasks done, verified hours, on-time rate,
    median minutes from need to its first service by the provider, average rating, complaints (投诉
    filed about those tasks or their needs), low ratings (2 or less) and referrals accepted."""
    found = await evidence(project=project, grace_minutes=grace_minutes)
    tasks, claims, grace = found["tasks"], found["claims"], found["grace"]
    counted_tasks = {c.task_id for c in claims}
    on_time = [c for c in claims if c.checked_in_at and c.checked_in_at <= tasks[c.task_id].scheduled_start + grace]
    need_ids = {t.need_id for t in tasks.values()}
    needs = {n.id: n for n in await Need.filter(id__in=list(need_ids) or [0])}
    first_service: dict[int, datetime] = {}
    for c in await TaskClaim.filter(task_id__in=list(tasks) or [0], checked_in_at__isnull=False,
                                    volunteer_id__in=list(found["people"]) or [0]):
        need_id = tasks[c.task_id].need_id
        if need_id not in first_service or c.checked_in_at < first_service[need_id]:
            first_service[need_id] = c.checked_in_at
    waits = [(at - needs[nid].created_at).total_seconds() / 60 for nid, at in first_service.items()]
    ratings = [n.rating_score for n in needs.values() if n.rating_score is not None]
    return {
        "tasks": len(tasks),
        "tasks_done": sum(1 for t in tasks.values() if t.status == "confirmed" and t.id in counted_tasks),
        "verified_hours": round(sum(c.verified_minutes or 0 for c in claims) / 60, 2),
        "on_time_rate": round(len(on_time) / len(claims), 4) if claims else None,
        "median_minutes_to_first_service": round(median(waits), 1) if waits else None,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        # A complaint names a task, or the need it serves (subject "service"): one about a need
        # counts when any of the need's tasks is the provider's here.
        "complaints": await complaints.count_about(task_ids=list(tasks), need_ids=list(need_ids)),
        "low_ratings": sum(1 for r in ratings if r <= 2),
        "referrals_accepted": len(found["referrals_accepted"]),
    }


def compare(targets: dict[str, Any], actual: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target beside what was reached, and whether it was met (no figure yet: not met)."""
    out = []
    for kpi, target in targets.items():
        target = int(target) if float(target).is_integer() else target  # 2, not 2.0
        reached = actual.get(kpi)
        better = TARGETS.get(kpi, ">=")
        met = reached is not None and (reached >= target if better == ">=" else reached <= target)
        out.append({"kpi": kpi, "label": labels.label("project_kpi", kpi), "target": target, "actual": reached,
                    "better": better, "met": met})
    return out


def check_targets(targets: dict[str, Any] | None) -> dict[str, Any]:
    if not targets:
        raise TargetsRequired(details=[{"field": "targets", "type": "missing"}])
    unknown = [k for k in targets if k not in TARGETS]
    if unknown:
        raise ValidationFailed("不能为这些指标设定目标", details=[{"field": f"targets.{k}", "type": "unknown_kpi"}
                                                          for k in unknown])
    return dict(targets)


async def step(*, project_id: int, to: str, actor_id: int, note: str, documents: list[str], grace_minutes: int,
               now: datetime, targets: dict[str, Any] | None = None) -> Project:
    """Move a project one step along its lifecycle, recording the KPIs at that moment. 立项 sets
    the targets and, like 验收, needs a qualified provider; 验收通过 needs every target met."""
    project = await Project.select_for_update().get_or_none(id=project_id)
    if project is None:
        raise NotFound("项目不存在")
    allowed, _ = STEPS[to]
    if project.status not in allowed:
        raise events.invalid_state(project, STEPS[to][1])
    if to in ("approved", "accepted"):
        check_provider(await Organization.get(id=project.organization_id), now=now)
    if to == "approved":
        project.targets = check_targets(targets)
        await Project.filter(id=project.id).update(targets=project.targets)
    elif targets:
        raise ValidationFailed("绩效目标只在立项时设定", details=[{"field": "targets", "type": "not_at_this_step"}])
    snapshot = await kpis(project=project, grace_minutes=grace_minutes)
    if to == "accepted":
        missed = [c for c in compare(project.targets or {}, snapshot) if not c["met"]]
        if missed:
            raise TargetsNotMet("未达到的绩效目标:" + "、".join(
                f"{c['label']}(目标 {c['target']},实际 {'—' if c['actual'] is None else c['actual']})" for c in missed),
                details={"missed": missed})
    await ProjectStep.create(project_id=project.id, from_status=project.status, to_status=to, actor_id=actor_id,
                             note=note, documents=documents, kpis=snapshot, created_at=now)
    await Project.filter(id=project.id).update(status=to)
    project.status = to
    return project


async def pay(*, project_id: int, kind: str, amount_fen: int, note: str, actor_id: int, now: datetime) -> ProjectPayment:
    """Record a payment (拨付) against the budget: advances from 立项 until acceptance, the final
    payment once accepted (tied to that acceptance step), never past the budget, nothing after a
    failed acceptance."""
    project = await Project.select_for_update().get_or_none(id=project_id)
    if project is None:
        raise NotFound("项目不存在")
    paid = sum(await ProjectPayment.filter(project_id=project.id).values_list("amount_fen", flat=True))
    step_id = None
    if kind == "advance" and project.status not in ("approved", "in_progress", "acceptance_pending"):
        raise PaymentRefused("预拨须在立项后、验收前", details={"status": project.status})
    if kind == "final":
        if project.status != "accepted":
            raise PaymentRefused("尾款须在验收通过后拨付", details={"status": project.status})
        if await ProjectPayment.exists(project_id=project.id, kind="final"):
            raise PaymentRefused("尾款已拨付")
        acceptance = await ProjectStep.filter(project_id=project.id, to_status="accepted").order_by("-id").first()
        step_id = acceptance.id if acceptance else None
    if paid + amount_fen > project.budget_fen:
        raise PaymentRefused(f"拨付合计不能超过预算(预算 {project.budget_fen / 100:.2f} 元,已拨付 {paid / 100:.2f} 元)",
                             details={"budget_fen": project.budget_fen, "paid_fen": paid})
    payment = await ProjectPayment.create(project_id=project.id, kind=kind, amount_fen=amount_fen, note=note,
                                          step_id=step_id, actor_id=actor_id, created_at=now)
    await audit.record(actor_id=actor_id, action="project.pay", subject_type="project", subject_id=project.id,
                       detail={"kind": kind, "amount_fen": amount_fen, "payment_id": payment.id})
    return payment


async def payments(*, project_id: int) -> list[ProjectPayment]:
    return await ProjectPayment.filter(project_id=project_id).order_by("id")


async def present(project: Project, *, grace_minutes: int) -> dict[str, Any]:
    steps = await ProjectStep.filter(project_id=project.id).order_by("id")
    live = await kpis(project=project, grace_minutes=grace_minutes)
    paid = await payments(project_id=project.id)
    return {
        "id": project.id, "name": project.name, "organization_id": project.organization_id,
        "district_id": project.district_id, "budget_fen": project.budget_fen, "starts_at": project.starts_at, "ends_at": project.ends_at,
        "services": project.services, "station_ids": project.station_ids, "status": project.status,
        "status_label": labels.label("project_status", project.status),
        "kpis": live, "targets": project.targets or {}, "comparison": compare(project.targets or {}, live),
        "steps": [{"from": s.from_status, "to": s.to_status, "actor_id": s.actor_id, "note": s.note,
                   "documents": s.documents, "kpis": s.kpis, "at": s.created_at} for s in steps],
        "payments": [present_payment(p) for p in paid],
        "paid_fen": sum(p.amount_fen for p in paid),
    }


def present_payment(p: ProjectPayment) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "kind_label": labels.label("payment_kind", p.kind), "amount_fen": p.amount_fen,
            "note": p.note, "step_id": p.step_id, "at": p.created_at}


def present_brief(project: Project) -> dict[str, Any]:
    """A project as a list shows it."""
    return {"id": project.id, "name": project.name, "organization_id": project.organization_id,
            "organization_name": project.organization.name, "district_id": project.district_id,
            "budget_fen": project.budget_fen,
            "starts_at": project.starts_at, "ends_at": project.ends_at, "station_ids": project.station_ids,
            "status": project.status, "status_label": labels.label("project_status", project.status)}
