"""The audit trail as an auditor reads it (PIPL art. 51, 55; 保障四 supervision): who read or
changed whose personal data, when and why — unmasked reads with their reason, exports, imports,
role changes, exits — filtered by the person concerned, the reader, the action and the period,
and exported as a workbook. Reading the trail is itself written to it.

Rows are shown in words: the action and the fields by their labels, the reader by role and masked
phone, the household by its masked name and station; the free-text reason as it was given.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from tortoise.expressions import Q, Subquery

from models import AuditLog, ResidentProfile, Station, UserRole
from server import audit, labels
from server.clock import CHINA_TZ
from server.people import staff
from server.pii import mask_name
from server.reports import excel

PAGE = 100
MAX_EXPORT = 50_000


@dataclass(frozen=True)
class Filters:
    resident_id: int | None = None
    actor_id: int | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    # A district auditor's reach (server/access.audit_reach): rows about its households or done by
    # its staff; the stations are the district's, read once for the query.
    district_id: int | None = None
    stations: tuple[int, ...] = ()

    def as_detail(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()
                if v is not None and k != "stations"}


# The filters, as the trail's own rows name them.
_ASKED = {"resident_id": "居民编号", "actor_id": "操作人编号", "action": "操作", "start": "起", "end": "止",
          "district_id": "区市"}


def _query(f: Filters):
    qs = AuditLog.all()
    if f.district_id is not None:
        stations = list(f.stations) or [0]
        staff_of = UserRole.filter(Q(station_id__in=stations) | Q(district_id=f.district_id)).values("user_id")
        qs = qs.filter(Q(subject_type="resident", subject_id__in=Subquery(
            ResidentProfile.filter(station_id__in=stations).values("id"))) | Q(actor_id__in=Subquery(staff_of)))
    if f.resident_id is not None:
        qs = qs.filter(subject_type="resident", subject_id=f.resident_id)
    if f.actor_id is not None:
        qs = qs.filter(actor_id=f.actor_id)
    if f.action:
        qs = qs.filter(action=f.action)
    if f.start:
        qs = qs.filter(created_at__gte=f.start)
    if f.end:
        qs = qs.filter(created_at__lt=f.end)
    return qs


def _local(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _detail_text(row: AuditLog) -> str:
    """What else a row says, in words: the reason given, the ledger exported, what an import held."""
    detail = row.detail if isinstance(row.detail, dict) else {}
    parts = []
    if detail.get("reason"):
        parts.append(f"事由:{detail['reason']}")
    if detail.get("kind") and row.action == "ledger.export_unmasked":
        parts.append(f"台账:{excel.KINDS.get(detail['kind'], (detail['kind'],))[0]}")
    if row.action == "resident.exit" and detail.get("reason"):
        parts = [f"原因:{labels.label('exit_reason', detail['reason'])}"] + \
                ([f"说明:{detail['note']}"] if detail.get("note") else [])
    if row.action == "credit.export":
        parts.append(f"提供 {detail.get('count', 0)} 条(姓名、身份证号、时长),"
                     f"未授权或已撤回等未提供 {detail.get('left_out', 0)} 条")
    if detail.get("role"):
        parts.append(f"角色:{labels.label('role', detail['role'])}")
    if row.action in ("audit.read", "audit.export"):
        asked = [f"{_ASKED[k]} {labels.label('audit_action', v) if k == 'action' else v}" for k, v in detail.items()
                 if k in _ASKED]
        parts.append("查询条件:" + (",".join(asked) or "全部"))
    return ";".join(parts)


async def present(rows: list[AuditLog]) -> list[dict[str, Any]]:
    readers = await staff.labels_of({r.actor_id for r in rows if r.actor_id is not None})
    households = {h.id: h for h in await ResidentProfile.filter(
        id__in={r.subject_id for r in rows if r.subject_type == "resident" and r.subject_id} or {0})
        .only("id", "name", "station_id")}
    stations = dict(await Station.filter(id__in={h.station_id for h in households.values()} | {
        r.subject_id for r in rows if r.subject_type == "station" and r.subject_id} or {0}).values_list("id", "name"))
    out = []
    for r in rows:
        if r.subject_type == "resident" and r.subject_id in households:
            h = households[r.subject_id]
            subject = f"居民 {mask_name(h.name)}({stations.get(h.station_id, '')})"
        elif r.subject_type == "station" and r.subject_id in stations:
            subject = stations[r.subject_id]
        else:
            subject = labels.label("audit_subject", r.subject_type) + (f" {r.subject_id}" if r.subject_id else "")
        out.append({"id": r.id, "at": r.created_at, "action": r.action, "action_label": labels.label("audit_action", r.action),
                    "actor_id": r.actor_id, "actor_label": readers.get(r.actor_id, "系统") if r.actor_id else "系统",
                    "subject_type": r.subject_type, "subject_id": r.subject_id, "subject_label": subject,
                    "fields": r.fields_read or [], "fields_label": labels.fields_text(r.fields_read),
                    "detail_text": _detail_text(r)})
    return out


async def read(*, filters: Filters, reader_id: int, before: int | None = None,
               limit: int = PAGE) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the trail, newest first (``before``: the cursor, an id), and the next cursor;
    the reading itself is recorded."""
    qs = _query(filters)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = await qs.order_by("-id").limit(limit + 1)
    await audit.record(actor_id=reader_id, action="audit.read", subject_type="audit", subject_id=None,
                       detail=filters.as_detail() or None)
    more = len(rows) > limit
    rows = rows[:limit]
    return await present(rows), (rows[-1].id if more and rows else None)


HEADER = ["时间", "操作", "操作人", "对象", "涉及个人信息", "说明"]


async def export(*, filters: Filters, reader_id: int, now: datetime) -> bytes:
    """The trail the filters select as a workbook (at most ``MAX_EXPORT`` rows, newest first);
    the export is recorded."""
    rows = await _query(filters).order_by("-id").limit(MAX_EXPORT)
    await audit.record(actor_id=reader_id, action="audit.export", subject_type="audit", subject_id=None,
                       detail=filters.as_detail() or None)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("审计日志")
    sheet.append([f"审计日志  导出时间 {_local(now)}  共 {len(rows)} 条"])
    sheet.append(HEADER)
    for start in range(0, len(rows), 500):
        for r in await present(rows[start:start + 500]):
            sheet.append([_local(r["at"]), r["action_label"], r["actor_label"], r["subject_label"], r["fields_label"],
                          _text(r["detail_text"])])
        await asyncio.sleep(0)
    return await excel.workbook_bytes(workbook)


def _text(value: str) -> str:
    # A reason someone typed that starts with "=" must not become a formula when the file is opened.
    return "'" + value if value.startswith(("=", "+", "-", "@")) else value
