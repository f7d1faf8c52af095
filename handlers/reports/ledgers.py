import os

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.reports.schemas import LedgerQuery
from server.access import ledger_scope
from server.auth import authenticate
from server.errors import NotFound
from server.http import XLSX, XLSX_RESPONSE, query, xlsx_headers
from server.reports import excel

bp = Blueprint("ledgers", url_prefix="/api/v1/ledgers")


@bp.get("/<kind:str>")
@openapi.summary("台账 as Excel (needs | points | service_records | volunteer_hours | assessments | project_kpis | exits | complaints), streamed; PII masked unless ?unmasked=true by the station (audited)")
@openapi.secured("token")
@query(LedgerQuery)
@openapi.response(200, XLSX_RESPONSE)
async def export(request: Request, kind: str):
    actor = await authenticate(request)
    if kind not in excel.KINDS:
        raise NotFound("台账类型不存在")
    q = request.ctx.query
    reach = await ledger_scope(actor, station_id=q.station_id, unmasked=q.unmasked)
    ctx = request.app.ctx
    path = await excel.build(kind=kind, stations=reach.stations, place=reach.place, start=q.start, end=q.end, unmasked=q.unmasked,
                               cipher=ctx.cipher, actor_id=actor.id, now=ctx.clock(),
                               grace_minutes=ctx.settings.checkin_grace_minutes)
    try:
        response = await request.respond(content_type=XLSX, headers=xlsx_headers(f"haibei-{kind}.xlsx"))
        with open(path, "rb") as f:
            while chunk := f.read(64 * 1024):
                await response.send(chunk)
        await response.eof()
    finally:
        os.unlink(path)
