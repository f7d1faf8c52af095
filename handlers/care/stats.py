from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.care.schemas import StatsQuery
from server.access import stats_scope
from server.auth import authenticate
from server.care import stats
from server.http import query, respond

bp = Blueprint("stats", url_prefix="/api/v1/stats")


@bp.get("/overview")
@openapi.summary("Statistics for a station (workers: their own), a district or the city (admins), with complaints, exits and re-assessments due")
@openapi.secured("token")
@query(StatsQuery)
async def overview(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    scope_id = await stats_scope(actor, q.scope, q.id)
    return respond(await stats.overview(scope=q.scope, scope_id=scope_id, start=q.start, end=q.end,
                                        now=request.app.ctx.clock()))
