from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.schemas import HealthOut
from server.http import respond, returns
from server.services import health

bp = Blueprint("health")


@bp.get("/healthz")
@openapi.summary("Database and Redis reachability")
@returns(HealthOut)
@openapi.response(503, {"application/json": HealthOut})
async def healthz(request: Request):
    report = await health.check(redis=request.app.ctx.redis.aio)
    return respond(report, status=200 if report["status"] == "ok" else 503)
