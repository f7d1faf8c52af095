"""The audit trail for administrators (a district's: what concerns its own households and staff): read a page, or export the workbook, filtered by the
household concerned, the reader, the action and the period (server/reports/audit_trail.py);
reading and exporting are themselves recorded."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.common import Id, PeriodEnd, PeriodStart, Strict
from server import labels
from server.access import audit_reach
from server.auth import authenticate
from server.http import XLSX, XLSX_RESPONSE, query, respond, xlsx_headers
from server.reports import audit_trail

bp = Blueprint("audit", url_prefix="/api/v1/admin/audit")

Action = Literal[tuple(labels.AUDIT_ACTION)]  # type: ignore[valid-type]


class AuditQuery(Strict):
    resident_id: Id | None = Field(None, description="the household concerned")
    actor_id: Id | None = Field(None, description="who did it")
    action: Action | None = None
    start: PeriodStart | None = Field(None, alias="from")
    end: PeriodEnd | None = Field(None, alias="to")
    before: Id | None = Field(None, description="cursor: rows older than this id")

    def filters(self, reach: dict) -> audit_trail.Filters:
        return audit_trail.Filters(resident_id=self.resident_id, actor_id=self.actor_id, action=self.action,
                                   start=self.start, end=self.end, **reach)


@bp.get("")
@openapi.summary("The audit trail, newest first (administrators; a district its own); the reading is recorded")
@openapi.secured("token")
@query(AuditQuery)
async def read(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    items, cursor = await audit_trail.read(filters=q.filters(await audit_reach(actor)), reader_id=actor.id,
                                           before=q.before)
    return respond({"items": items, "next_before": cursor})


@bp.get("/export")
@openapi.summary("The audit trail as Excel (administrators); the export is recorded")
@openapi.secured("token")
@query(AuditQuery)
@openapi.response(200, XLSX_RESPONSE)
async def export(request: Request):
    actor = await authenticate(request)
    data = await audit_trail.export(filters=request.ctx.query.filters(await audit_reach(actor)), reader_id=actor.id,
                                    now=request.app.ctx.clock())
    return raw(data, content_type=XLSX, headers=xlsx_headers("haibei-audit.xlsx"))
