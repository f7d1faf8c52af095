"""台账 (ledgers) as Excel workbooks, written row by row and streamed.

openpyxl's write-only mode keeps no cells in memory; rows are read from the database in id-ordered
batches; the file is built in a temporary file and sent in chunks. Personal data is masked unless
an entitled caller asks for it, and such an export is audited.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from tortoise.expressions import Subquery

from models import (
    Assessment, AuditLog, Need, Organization, PointsAccount, PointsEntry, Project, ProjectStep, ResidentProfile, Service,
    Station, Task, VolunteerProfile,
)
from server import audit, labels
from server.care import assessments, complaints, projects, reassessment
from server.clock import CHINA_TZ
from server.errors import DomainError
from server.people import residents, staff
from server.pii import FieldCipher, mask_name
from server.points import ledger

BATCH = 500
YIELD_EVERY = 100  # rows written between two turns of the event loop (a few milliseconds)
MAX_ROWS = 200_000


# What an unmasked export of each kind reveals, for the audit row.
UNMASKED_FIELDS = {"needs": ["name", "phone"], "assessments": ["name", "visit_notes"], "exits": ["name"],
                   "complaints": ["name", "complaint_text", "complaint_answer"]}


class ExportTooLarge(DomainError):
    status = 413
    code = "EXPORT_TOO_LARGE"
    message = "导出范围过大,请缩小时间范围"


def _t(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def _as_text(sheet: Any, row: list[Any]) -> list[Any]:
    """``row`` with every string kept as text: openpyxl makes a string that begins with '=' a
    formula, and these cells hold what people typed (a volunteer's service summary, a name, a note),
    which opening the ledger must never run (formula injection)."""
    out = []
    for value in row:
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            value = cell
        out.append(value)
    return out


async def _batches(qs) -> AsyncIterator[list[Any]]:
    """The rows of ``qs`` a page of ``BATCH`` at a time, by id (each page starts after the last)."""
    last = 0
    while True:
        rows = await qs.filter(id__gt=last).order_by("id").limit(BATCH)
        if not rows:
            return
        yield rows
        last = rows[-1].id


async def _service_names() -> dict[str, str]:
    """Each service's name by its code: the catalogue is small."""
    return dict(await Service.all().values_list("code", "name"))


async def needs_rows(*, stations: list[int] | None, start: datetime, end: datetime, unmasked: bool,
                     cipher: FieldCipher, **_: Any) -> AsyncIterator[list[Any]]:
    yield ["编号", "登记时间", "居民", "联系电话", "服务项目", "紧急程度", "来源", "代报", "状态", "评分"]
    services = await _service_names()
    async for batch in _batches(await _needs(stations=stations, start=start, end=end)):
        households = {r.id: r for r in await ResidentProfile.filter(id__in={n.resident_id for n in batch})}
        for n in batch:
            h = households.get(n.resident_id)
            phone = cipher.decrypt_optional(h.phone_enc, context=residents.CTX["phone"]) if (h and unmasked) else None
            yield [n.id, _t(n.created_at), (h.name if unmasked else mask_name(h.name)) if h else "",
                   phone if unmasked else (h.phone_masked if h else ""), services.get(n.service_id, n.service_id),
                   labels.label("urgency", n.urgency), labels.label("need_source", n.source),
                   "是" if n.on_behalf else "否", labels.label("need_status", n.status), n.rating_score or ""]


async def points_rows(*, stations: list[int] | None, start: datetime, end: datetime, **_: Any) -> AsyncIterator[list[Any]]:
    yield ["流水号", "时间", "志愿者", "类型", "积分", "余额", "服务分钟", "说明"]
    names: dict[int, str] = {}
    async for batch in _batches(await _points(stations=stations, start=start, end=end)):
        missing = {e.account_id for e in batch} - set(names)
        if missing:
            for account_id, user_id in await PointsAccount.filter(id__in=missing).values_list("id", "user_id"):
                profile = await VolunteerProfile.get_or_none(user_id=user_id)
                names[account_id] = mask_name(profile.name) if profile else f"用户{user_id}"
        for e in batch:
            yield [e.id, _t(e.created_at), names.get(e.account_id, ""), labels.label("points_kind", e.kind), e.amount,
                   e.balance_after, e.minutes, labels.points_reason(e.reason, e.kind)]


async def _station_task_ids(stations: list[int] | None) -> list[int] | None:
    if stations is None:
        return None
    return list(await Task.filter(station_id__in=stations).values_list("id", flat=True)) or [0]


# One query builder per kind, used both for the rows and for the size check before the export, so
# the two always count the same thing.

async def _needs(*, stations: list[int] | None, start: datetime, end: datetime):
    qs = Need.filter(created_at__gte=start, created_at__lt=end)
    return qs if stations is None else qs.filter(station_id__in=stations)


async def _points(*, stations: list[int] | None, start: datetime, end: datetime):
    """Entries of the station's volunteers' accounts (points belong to volunteers)."""
    qs = PointsEntry.filter(created_at__gte=start, created_at__lt=end)
    if stations is None:
        return qs
    users = await VolunteerProfile.filter(station_id__in=stations).values_list("user_id", flat=True)
    accounts = await PointsAccount.filter(user_id__in=list(users)).values_list("id", flat=True)
    return qs.filter(account_id__in=list(accounts) or [0])


async def _claims(*, stations: list[int] | None, start: datetime, end: datetime):
    """Confirmed claims of the station's tasks, less those whose award was reversed: the service
    did not count after all, and the volunteer's verified minutes no longer include it."""
    qs = ledger.counted_claims().filter(confirmed_at__gte=start, confirmed_at__lt=end)
    task_ids = await _station_task_ids(stations)
    return qs if task_ids is None else qs.filter(task_id__in=task_ids)


async def _assessments(*, stations: list[int] | None, start: datetime, end: datetime):
    qs = Assessment.filter(visited_at__gte=start, visited_at__lt=end)
    return qs if stations is None else qs.filter(station_id__in=stations)


async def records_rows(*, stations: list[int] | None, start: datetime, end: datetime, **_: Any) -> AsyncIterator[list[Any]]:
    """Confirmed service records (服务记录台账), one row per volunteer's part."""
    yield ["记录号", "任务号", "服务项目", "志愿者", "开始", "结束", "核定分钟", "积分", "服务内容", "确认时间"]
    services = await _service_names()
    async for batch in _batches(await _claims(stations=stations, start=start, end=end)):
        tasks_by_id = {t.id: t for t in await Task.filter(id__in={c.task_id for c in batch})}
        people = dict(await VolunteerProfile.filter(id__in={c.volunteer_id for c in batch}).values_list("id", "name"))
        for c in batch:
            t = tasks_by_id[c.task_id]
            yield [c.id, c.task_id, services.get(t.service_id, t.service_id), mask_name(people.get(c.volunteer_id)),
                   _t(c.started_at), _t(c.ended_at),
                   c.verified_minutes, c.points_due, c.summary or "", _t(c.confirmed_at)]


async def hours_rows(*, stations: list[int] | None, start: datetime, end: datetime, **_: Any) -> AsyncIterator[list[Any]]:
    """Verified service hours per volunteer in the period (志愿服务时长台账), from one grouped query."""
    from tortoise.functions import Count, Sum

    yield ["志愿者编号", "志愿者", "服务次数", "核定时长(小时)"]
    qs = await _claims(stations=stations, start=start, end=end)
    rows = await qs.annotate(n=Count("id"), minutes=Sum("verified_minutes")).group_by("volunteer_id") \
        .values("volunteer_id", "n", "minutes")
    people = dict(await VolunteerProfile.filter(id__in=[r["volunteer_id"] for r in rows] or [0]).values_list("id", "name"))
    for r in sorted(rows, key=lambda r: -(r["minutes"] or 0)):
        yield [r["volunteer_id"], mask_name(people.get(r["volunteer_id"])), r["n"], round((r["minutes"] or 0) / 60, 2)]


async def assessments_rows(*, stations: list[int] | None, start: datetime, end: datetime, unmasked: bool,
                           cipher: FieldCipher, now: datetime, **_: Any) -> AsyncIterator[list[Any]]:
    """Home visits in the period (入户评估台账): scores per dimension, overall, level; when the
    household is due for its next visit and, as of the export, whether it was visited again, is
    overdue or due within the week; visit notes only in the station's own unmasked export."""
    spec = await assessments.current()
    dims = [(d["id"], d["name"]) for d in spec["dimensions"]]
    header = ["编号", "入户时间", "居民", "驿站", "问卷版本", *[name for _, name in dims], "综合得分", "困难等级", "评估人",
              "复评到期", "复评情况"]
    yield header + (["走访记录"] if unmasked else [])
    station_names = dict(await Station.all().values_list("id", "name"))
    async for batch in _batches(await _assessments(stations=stations, start=start, end=end)):
        households = dict(await ResidentProfile.filter(id__in={a.resident_id for a in batch}).values_list("id", "name"))
        revisited = await reassessment.revisited(assessments=batch)
        assessors = await staff.labels_of({a.assessor_id for a in batch if a.assessor_id is not None})
        for a in batch:
            name = households.get(a.resident_id, "")
            row = [a.id, _t(a.visited_at), name if unmasked else mask_name(name), station_names.get(a.station_id, ""),
                   a.version, *[(a.scores or {}).get(key, "") for key, _ in dims], a.overall, a.level,
                   assessors.get(a.assessor_id, ""),
                   _t(a.due_at), "已复评" if a.id in revisited else reassessment.STATE_LABELS[reassessment.state(a.due_at, now)]]
            if unmasked:
                row.append(cipher.decrypt_optional(a.visit_notes_enc, context=assessments.NOTES_CONTEXT) or "")
            yield row


def _projects_in(start: datetime, end: datetime, stations: list[int] | None):
    async def run() -> list[Any]:
        rows = await Project.filter(starts_at__lt=end, ends_at__gt=start).order_by("id")
        return [p for p in rows if stations is None or set(stations) & set(p.station_ids or [])]

    return run()


async def project_kpis_rows(*, stations: list[int] | None, start: datetime, end: datetime, grace_minutes: int = 15,
                            **_: Any) -> AsyncIterator[list[Any]]:
    """Purchased-service projects running in the period (项目绩效台账): KPIs computed from the task
    data now, then every lifecycle step with the KPIs recorded at that step."""
    kpi_names = list(labels.PROJECT_KPI.items())
    yield ["项目编号", "项目名称", "承接机构", "预算(元)", "开始", "结束", "状态", *[n for _, n in kpi_names]]
    rows = await _projects_in(start, end, stations)
    orgs = dict(await Organization.filter(id__in={p.organization_id for p in rows} or {0}).values_list("id", "name"))
    for p in rows:
        k = await projects.kpis(project=p, grace_minutes=grace_minutes)
        yield [p.id, p.name, orgs.get(p.organization_id, ""), round(p.budget_fen / 100, 2), _t(p.starts_at),
               _t(p.ends_at), projects.STATUS_NAMES.get(p.status, p.status),
               *[("" if k[key] is None else k[key]) for key, _ in kpi_names]]
    yield []
    yield ["项目编号", "节点", "时间", "经办人", "说明", "材料", *[n for _, n in kpi_names]]
    for p in rows:
        steps = await ProjectStep.filter(project_id=p.id).order_by("id")
        actors = await staff.labels_of({step.actor_id for step in steps if step.actor_id is not None})
        for step in steps:
            k = step.kpis or {}
            yield [p.id, projects.STATUS_NAMES.get(step.to_status, step.to_status), _t(step.created_at),
                   actors.get(step.actor_id, ""),
                   step.note or "", "、".join(step.documents or []),
                   *[("" if k.get(key) is None else k.get(key)) for key, _ in kpi_names]]


async def _exits(*, stations: list[int] | None, start: datetime, end: datetime):
    """Every exit (退出) done in the period, from the audit trail: reinstatement (恢复) clears the
    household's exit fields (server/lifecycle/exits.py), so only the trail still says that a
    household brought back had been out, and why. A household is its station's."""
    qs = AuditLog.filter(action="resident.exit", subject_type="resident", created_at__gte=start, created_at__lt=end)
    if stations is None:
        return qs
    return qs.filter(subject_id__in=Subquery(ResidentProfile.filter(station_id__in=stations).values("id")))


async def exits_rows(*, stations: list[int] | None, start: datetime, end: datetime, unmasked: bool,
                     **_: Any) -> AsyncIterator[list[Any]]:
    """Households whose assistance ended in the period (退出台账), each exit a row, with when it
    was brought back if it was (the first reinstatement after that exit)."""
    yield ["居民", "身份证号", "驿站", "退出原因", "说明", "办理人", "退出时间", "恢复时间"]
    station_names = dict(await Station.all().values_list("id", "name"))
    async for batch in _batches(await _exits(stations=stations, start=start, end=end)):
        subjects = {a.subject_id for a in batch}
        households = {r.id: r for r in await ResidentProfile.filter(id__in=subjects)
                      .only("id", "name", "id_number_masked", "station_id")}
        back: dict[int, list[tuple[int, datetime]]] = {}
        for subject_id, audit_id, at in await AuditLog.filter(
                action="resident.reinstate", subject_type="resident", subject_id__in=subjects,
                id__gt=batch[0].id).order_by("id").values_list("subject_id", "id", "created_at"):
            back.setdefault(subject_id, []).append((audit_id, at))
        handlers_of = await staff.labels_of({a.actor_id for a in batch if a.actor_id is not None})
        for a in batch:
            h = households.get(a.subject_id)
            detail = a.detail or {}
            reinstated = next((at for audit_id, at in back.get(a.subject_id, []) if audit_id > a.id), None)
            yield [(h.name if unmasked else mask_name(h.name)) if h else "", (h.id_number_masked or "") if h else "",
                   station_names.get(h.station_id, "") if h else "", labels.label("exit_reason", detail.get("reason")),
                   detail.get("note") or "", handlers_of.get(a.actor_id, ""), _t(a.created_at), _t(reinstated)]


COMPLAINT_FIELDS = ("id", "station_id", "resident_id", "subject", "status", "due_at", "answered_at", "reopen_count",
                    "escalated_at", "closed_at", "created_at")


async def _complaints(*, stations: list[int] | None, start: datetime, end: datetime):
    return complaints.filed_in(stations=stations, start=start, end=end)


async def complaints_rows(*, stations: list[int] | None, start: datetime, end: datetime, unmasked: bool,
                          **_: Any) -> AsyncIterator[list[Any]]:
    """Complaints filed in the period (投诉台账) and where each has got to. What the complainant
    wrote and the answer are sealed (models/sealed.py): only the station's unmasked export has them
    (and is audited); a masked one does not even open them."""
    yield ["编号", "驿站", "对象", "投诉人", "提出时间", "答复期限", "状态", "答复时间", "重新提出次数", "上报时间",
           "结案时间", *(["投诉内容", "答复内容"] if unmasked else [])]
    station_names = dict(await Station.all().values_list("id", "name"))
    qs = await _complaints(stations=stations, start=start, end=end)
    if not unmasked:
        qs = qs.only(*COMPLAINT_FIELDS)
    async for batch in _batches(qs):
        households = dict(await ResidentProfile.filter(id__in={c.resident_id for c in batch if c.resident_id} or {0})
                          .values_list("id", "name"))
        for c in batch:
            if c.resident_id is None:
                who = labels.ROLE["volunteer"]
            else:
                name = households.get(c.resident_id, "")
                who = name if unmasked else mask_name(name)
            row = [c.id, station_names.get(c.station_id, ""), labels.label("complaint_subject", c.subject), who,
                   _t(c.created_at), _t(c.due_at), labels.label("complaint_status", c.status), _t(c.answered_at),
                   c.reopen_count, _t(c.escalated_at), _t(c.closed_at)]
            if unmasked:
                row += [c.text or "", c.answer or ""]
            yield row


KINDS = {
    "needs": ("需求登记台账", needs_rows),
    "points": ("积分流水台账", points_rows),
    "service_records": ("服务记录台账", records_rows),
    "volunteer_hours": ("志愿服务时长台账", hours_rows),
    "assessments": ("入户评估台账", assessments_rows),
    "project_kpis": ("购买服务项目绩效台账", project_kpis_rows),
    "exits": ("退出台账", exits_rows),
    "complaints": ("投诉台账", complaints_rows),
}


QUERIES = {"needs": _needs, "points": _points, "service_records": _claims, "volunteer_hours": _claims,
           "assessments": _assessments, "exits": _exits, "complaints": _complaints}


async def count(*, kind: str, stations: list[int] | None, start: datetime, end: datetime) -> int:
    """The rows an export of ``kind`` reads, from the same query the rows come from."""
    if kind == "project_kpis":
        return len(await _projects_in(start, end, stations))
    return await (await QUERIES[kind](stations=stations, start=start, end=end)).count()


async def build(*, kind: str, stations: list[int] | None, place: str, start: datetime, end: datetime,
                unmasked: bool, cipher: FieldCipher, actor_id: int, now: datetime, grace_minutes: int = 15) -> str:
    """Write the workbook of ``stations`` (None: the city's), called ``place`` in its heading, to a
    temporary file and return its path (the caller streams and deletes it)."""
    if await count(kind=kind, stations=stations, start=start, end=end) > MAX_ROWS:
        raise ExportTooLarge(details={"max_rows": MAX_ROWS})
    title, rows = KINDS[kind]
    if unmasked:
        await audit.record(actor_id=actor_id, action="ledger.export_unmasked", subject_type="station",
                           subject_id=stations[0] if stations and len(stations) == 1 else None,
                           fields=UNMASKED_FIELDS.get(kind, ["name"]), detail={"kind": kind})
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append([f"{title}  生成时间 {_t(now)}  范围 {_t(start)} – {_t(end)}  {place}"
                  f"  {'含完整个人信息' if unmasked else '个人信息已脱敏'}"])
    written = 0
    async for row in rows(stations=stations, start=start, end=end, unmasked=unmasked, cipher=cipher,
                          grace_minutes=grace_minutes, now=now):
        sheet.append(_as_text(sheet, row))
        written += 1
        if written % YIELD_EVERY == 0:
            # Rows come a page of the database at a time; writing a page whole held the process's
            # event loop, and every other request it serves, for a third of a second.
            await asyncio.sleep(0)
    fd, path = tempfile.mkstemp(prefix="haibei-ledger-", suffix=".xlsx")
    os.close(fd)
    # Zipping the sheet is the longest step and needs nothing of the loop: in a thread, so the
    # process goes on answering meanwhile (scripts/bench_export reports the longest stall).
    await asyncio.to_thread(workbook.save, path)
    return path


async def acceptance(*, project: Project, grace_minutes: int, now: datetime) -> bytes:
    """The 验收 ledger of one project (项目验收台账), a small workbook:
    the project and its KPIs against the targets set at 立项; every task counted, with the
    provider's service on it (the KPIs' evidence); the lifecycle steps; the payments."""
    found = await projects.evidence(project=project, grace_minutes=grace_minutes)
    live = await projects.kpis(project=project, grace_minutes=grace_minutes)
    org = await Organization.get(id=project.organization_id)
    stations = dict(await Station.filter(id__in=project.station_ids or [0]).values_list("id", "name"))
    services = await _service_names()
    workbook = Workbook(write_only=True)

    summary = workbook.create_sheet("验收汇总")
    summary.append([f"购买服务项目验收台账  生成时间 {_t(now)}"])
    for label, value in (("项目", project.name), ("承接机构", org.name), ("预算(元)", round(project.budget_fen / 100, 2)),
                         ("服务期", f"{_t(project.starts_at)} – {_t(project.ends_at)}"),
                         ("服务项目", "、".join(services.get(c, c) for c in project.services or [])),
                         ("驿站", "、".join(stations.get(i, "") for i in project.station_ids or [])),
                         ("状态", labels.label("project_status", project.status))):
        summary.append(_as_text(summary, [label, value]))
    summary.append([])
    summary.append(["指标", "目标", "实际", "是否达标"])
    for c in projects.compare(project.targets or {}, live):
        sign = "≥" if c["better"] == ">=" else "≤"
        summary.append([c["label"], f"{sign} {c['target']}", "" if c["actual"] is None else c["actual"],
                        "达标" if c["met"] else "未达标"])
    targeted = set(project.targets or {})
    for kpi, label in labels.PROJECT_KPI.items():
        if kpi not in targeted:
            summary.append([label, "未设目标", "" if live.get(kpi) is None else live[kpi], ""])

    tasks_sheet = workbook.create_sheet("计入任务")
    tasks_sheet.append(["任务号", "服务项目", "驿站", "计划开始", "任务状态", "服务人员", "签到", "核定分钟", "确认时间",
                        "承接方式"])
    people = dict(await VolunteerProfile.filter(id__in={c.volunteer_id for c in found["claims"]} or {0})
                  .values_list("id", "name"))
    by_task: dict[int, list[Any]] = {}
    for c in found["claims"]:
        by_task.setdefault(c.task_id, []).append(c)
    for task_id, t in sorted(found["tasks"].items()):
        how = "转介承接" if task_id in found["referrals_accepted"] else "本机构人员服务"
        for c in by_task.get(task_id) or [None]:
            tasks_sheet.append(_as_text(tasks_sheet, [
                t.id, services.get(t.service_id, t.service_id), stations.get(t.station_id, ""), _t(t.scheduled_start),
                labels.label("task_status", t.status), mask_name(people.get(c.volunteer_id)) if c else "",
                _t(c.checked_in_at) if c else "", c.verified_minutes if c else "", _t(c.confirmed_at) if c else "",
                how]))

    steps_sheet = workbook.create_sheet("项目节点")
    steps_sheet.append(["节点", "时间", "经办人", "说明", "材料"])
    steps = await ProjectStep.filter(project_id=project.id).order_by("id")
    actors = await staff.labels_of({s.actor_id for s in steps if s.actor_id is not None})
    for s in steps:
        steps_sheet.append(_as_text(steps_sheet, [projects.STATUS_NAMES.get(s.to_status, s.to_status), _t(s.created_at),
                                                  actors.get(s.actor_id, ""), s.note or "", "、".join(s.documents or [])]))

    pay_sheet = workbook.create_sheet("拨付记录")
    pay_sheet.append(["类型", "金额(元)", "时间", "说明"])
    for p in await projects.payments(project_id=project.id):
        pay_sheet.append(_as_text(pay_sheet, [labels.label("payment_kind", p.kind), round(p.amount_fen / 100, 2),
                                              _t(p.created_at), p.note]))

    return await workbook_bytes(workbook)


async def workbook_bytes(workbook: Workbook) -> bytes:
    """A small write-only workbook as bytes: saved (in a thread: zipping needs nothing of the
    loop) to a temporary file, read, and the file deleted."""
    fd, path = tempfile.mkstemp(prefix="haibei-", suffix=".xlsx")
    os.close(fd)
    try:
        await asyncio.to_thread(workbook.save, path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)
