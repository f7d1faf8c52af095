"""The audit trail page (审计日志) for administrators (a district's: its own households and staff): who read or changed whose personal data,
filtered by the household (found by its ID or phone number, posted, never put in an address), the
reader, the action and local dates; a page at a time, and the same as a workbook. Each reading is
itself recorded (server/reports/audit_trail.py, as ``GET /api/v1/admin/audit``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.console.common import FormInvalid, console, form_values, read_form, render
from handlers.console.stats import query_values
from handlers.reports.audit import AuditQuery
from server import labels
from server.access import audit_reach, oversees_station
from server.errors import ValidationFailed
from server.http import XLSX, xlsx_headers
from server.people import residents
from server.reports import audit_trail

bp = Blueprint("console_audit", url_prefix="/console")

FILTERS = ("resident_id", "actor_id", "action", "from", "to", "before")


def _page(request: Request, *, status: int = 200, values: dict[str, Any], errors: dict[str, str],
          items: list | None = None, next_before: int | None = None, who: str = "") -> Any:
    kept = {k: v for k, v in values.items() if k in FILTERS and k != "before" and v not in (None, "")}
    return render(request, "admin_audit.html", status=status, title="审计日志", values=values, errors=errors,
                  items=items, who=who, actions=list(labels.AUDIT_ACTION.items()),
                  query=urlencode(kept), next_query=urlencode({**kept, "before": next_before}) if next_before else "")


async def _read(request: Request, actor, values: dict[str, Any], who: str = "") -> Any:
    try:
        q = read_form(AuditQuery, values)
    except FormInvalid as exc:
        return _page(request, status=400, values=values, errors=exc.errors)
    items, next_before = await audit_trail.read(filters=q.filters(await audit_reach(actor)), reader_id=actor.id,
                                                before=q.before)
    return _page(request, values=values, errors={}, items=items, next_before=next_before, who=who)


@bp.get("/admin/audit")
@openapi.exclude()
@console("district")
async def audit_page(request: Request, actor):
    """The form; with filters in the address (a next page, a reader's id), their rows."""
    values = query_values(request, FILTERS)
    if not values:
        return _page(request, values={}, errors={})
    return await _read(request, actor, values)


@bp.post("/admin/audit")
@openapi.exclude()
@console("district")
async def audit_search(request: Request, actor):
    """A search, posted: the household by its number (through the blind indexes), then the rows."""
    posted = form_values(request)
    values = {k: str(v).strip() for k, v in posted.items() if k in FILTERS and str(v).strip()}
    number = str(posted.get("number", "")).strip()
    who = ""
    if number:
        try:
            household = await residents.find_by_number(number, request.app.ctx.cipher)
        except ValidationFailed as exc:
            return _page(request, status=400, values=values, errors={"number": exc.message})
        if household is None or not await oversees_station(actor, household.station_id):
            return _page(request, status=404, values=values,
                         errors={"number": "没有找到该身份证号或手机号的居民(须完整输入)。"})
        values["resident_id"] = str(household.id)
        who = residents.masked_lookup(number)
    return await _read(request, actor, values, who=who)


@bp.get("/admin/audit.xlsx")
@openapi.exclude()
@console("district")
async def audit_export(request: Request, actor):
    values = query_values(request, FILTERS)
    try:
        q = read_form(AuditQuery, values)
    except FormInvalid as exc:
        return _page(request, status=400, values=values, errors=exc.errors)
    data = await audit_trail.export(filters=q.filters(await audit_reach(actor)), reader_id=actor.id,
                                    now=request.app.ctx.clock())
    return raw(data, content_type=XLSX, headers=xlsx_headers("haibei-audit.xlsx"))
