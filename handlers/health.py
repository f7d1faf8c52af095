from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.common import HealthOut
from server import health, metrics
from server.access import require_metrics_access
from server.http import respond, returns

bp = Blueprint("health")


@bp.get("/livez")
@openapi.summary("Liveness: the process answers (no dependency is asked); also the benchmark's ceiling")
async def livez(request: Request):
    return respond({"status": "alive"})


@bp.get("/healthz")
@openapi.summary("Database and Redis reachability")
@returns(HealthOut)
@openapi.response(503, {"application/json": HealthOut})
async def healthz(request: Request):
    report = await health.check(redis=request.app.ctx.redis.aio, change_feed=request.app.ctx.feed)
    return respond(report, status=200 if report["status"] == "ok" else 503)



@bp.get("/metrics")
@openapi.summary("Prometheus metrics: requests and latency by route, DB pool, outbox depth, age and dead letters")
@openapi.response(200, {"text/plain": {"type": "string"}})
async def prometheus(request: Request):
    require_metrics_access(token=request.app.ctx.settings.metrics_token,
                           authorization=request.headers.get("authorization", ""), client_ip=request.ip)
    body = await metrics.render(request.app.ctx.clock())
    return raw(body, content_type=metrics.CONTENT_TYPE)
