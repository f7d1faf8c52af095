from sanic import Blueprint, Request
from sanic.response import text
from sanic_ext import openapi

from handlers.points.schemas import CreditBatchOut
from server.auth import authenticate
from server.errors import NotFound
from server.http import respond, returns
from server.points import credit
from server.transactions import atomic

bp = Blueprint("credit_admin", url_prefix="/api/v1/admin/credit-exports")


@bp.post("")
@openapi.summary("Export new 海贝分 credit increments as the next numbered batch (idempotent)")
@openapi.secured("token")
@returns(CreditBatchOut, status=201)
async def create_batch(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        batch = await credit.export(actor_id=actor.id, now=request.app.ctx.clock())
    if batch is None:
        return respond({"batch_id": None, "count": 0, "increments": []}, status=200)
    return respond({"batch_id": batch.id, "count": batch.count, "increments": await credit.rows(batch_id=batch.id)}, status=201)


@bp.get("/<batch_id:int>")
@openapi.summary("A batch as JSON, or CSV with ?format=csv")
@openapi.secured("token")
@returns(CreditBatchOut)
async def get_batch(request: Request, batch_id: int):
    actor = await authenticate(request)
    actor.require("admin")
    data = await credit.rows(batch_id=batch_id)
    if not data:
        raise NotFound("批次不存在")
    if request.args.get("format") == "csv":
        return text(credit.to_csv(data), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="haibei-credit-{batch_id}.csv"'})
    return respond({"batch_id": batch_id, "count": len(data), "increments": data})
