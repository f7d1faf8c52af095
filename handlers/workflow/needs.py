from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import NeedOut, RejectIn
from handlers.workflow.schemas import CancelIn, FollowUpIn, NeedIn, NeedListQuery, NeedPage, RatingIn, TaskIn, TaskOut, Timeline
from server import ratelimit
from server.access import access_need, access_need_household, sees_need_unmasked
from server.auth import authenticate
from server.http import body, query, respond, returns
from server.transactions import atomic
from server.workflow import content, flows, needs, tasks

bp = Blueprint("needs", url_prefix="/api/v1/needs")


def _role(actor, need) -> str:
    return "worker" if actor.station_id == need.station_id else "resident"


@bp.post("")
@openapi.summary("Ask for help (resident), or report a need on a household's behalf (worker, 代报)")
@openapi.secured("token")
@body(NeedIn)
@returns(NeedOut, status=201)
async def create_need(request: Request):
    actor = await authenticate(request)
    # A worker reporting for the households of their station (代报, 机制一) enters many in a row; a
    # household asking for itself is held to the tighter limit.
    await ratelimit.hit(request, "need_report" if request.ctx.body.resident_id is not None else "need_submit",
                        user_id=actor.id)
    ctx = request.app.ctx
    screened = await content.screen(wechat=ctx.wechat, author=actor.user, text=request.ctx.body.description,
                                    now=ctx.clock(), field="description")
    async with atomic():
        resident, on_behalf = await access_need_household(actor, request.ctx.body.resident_id)
        need = await needs.create(actor=actor, resident=resident, on_behalf=on_behalf,
                                  data=request.ctx.body.model_dump(), cipher=ctx.cipher, now=ctx.clock(),
                                  screened=screened)
    need = await needs.load(need_id=need.id)
    return respond(needs.present(need, cipher=ctx.cipher), status=201)


@bp.get("")
@openapi.summary("My household's needs (resident) or my station's (worker); cursor pagination")
@openapi.secured("token")
@query(NeedListQuery)
@returns(NeedPage)
async def list_needs(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    rows, cursor = await needs.list_needs(
        actor=actor, status=q.status, service_code=q.service_code, urgency=q.urgency, created_from=q.created_from,
        created_to=q.created_to, follow_up=q.follow_up, cursor=q.cursor, limit=q.limit,
    )
    cipher = request.app.ctx.cipher
    return respond({"items": [needs.present(n, cipher=cipher) for n in rows], "next_cursor": cursor})


@bp.get("/<need_id:int>")
@openapi.secured("token")
@returns(NeedOut)
async def get_need(request: Request, need_id: int):
    actor = await authenticate(request)
    need = await access_need(actor, need_id)
    return respond(needs.present(need, cipher=request.app.ctx.cipher, masked=not sees_need_unmasked(actor, need)))


@bp.post("/<need_id:int>/accept")
@openapi.summary("Accept a need (workers of its station)")
@openapi.secured("token")
@returns(NeedOut)
async def accept_need(request: Request, need_id: int):
    actor = await authenticate(request)
    async with atomic():
        need = await access_need(actor, need_id, purpose="manage")
        await needs.accept(need=need, actor=actor, now=request.app.ctx.clock())
    return respond(needs.present(need, cipher=request.app.ctx.cipher))


@bp.post("/<need_id:int>/reject")
@openapi.summary("Reject a need with a reason (workers of its station)")
@openapi.secured("token")
@body(RejectIn)
@returns(NeedOut)
async def reject_need(request: Request, need_id: int):
    actor = await authenticate(request)
    async with atomic():
        need = await access_need(actor, need_id, purpose="manage")
        await flows.reject_need(need=need, actor=actor, reason=request.ctx.body.reason, now=request.app.ctx.clock())
    return respond(needs.present(need, cipher=request.app.ctx.cipher))


@bp.post("/<need_id:int>/cancel")
@openapi.summary("Withdraw a need before service starts (the household, or its station)")
@openapi.secured("token")
@body(CancelIn)
@returns(NeedOut)
async def cancel_need(request: Request, need_id: int):
    actor = await authenticate(request)
    async with atomic():
        need = await access_need(actor, need_id, purpose="household")
        await flows.cancel_need(need=need, actor=actor, role=_role(actor, need), reason=request.ctx.body.reason,
                           now=request.app.ctx.clock())
    return respond(needs.present(need, cipher=request.app.ctx.cipher))


@bp.post("/<need_id:int>/tasks")
@openapi.summary("Dispatch a task for an accepted need (workers of its station)")
@openapi.secured("token")
@body(TaskIn)
@returns(TaskOut, status=201)
async def create_task(request: Request, need_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        need = await access_need(actor, need_id, purpose="manage")
        task = await tasks.create(need=need, actor_id=actor.id, data=request.ctx.body.model_dump(), cipher=ctx.cipher,
                                  now=ctx.clock())
    task = await tasks.load(task_id=task.id)
    return respond(await tasks.present_full(task, cipher=ctx.cipher, viewer="worker", now=ctx.clock()), status=201)


@bp.post("/<need_id:int>/rating")
@openapi.summary("Rate the service of a completed need, which closes it")
@openapi.secured("token")
@body(RatingIn)
@returns(NeedOut)
async def rate_need(request: Request, need_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    ctx = request.app.ctx
    screened = await content.screen(wechat=ctx.wechat, author=actor.user, text=b.comment, now=ctx.clock(),
                                    field="comment")
    async with atomic():
        need = await access_need(actor, need_id, purpose="household")
        await needs.rate(need=need, actor=actor, role=_role(actor, need), score=b.score, comment=b.comment,
                         would_use_again=b.would_use_again, now=ctx.clock(), screened=screened)
    return respond(needs.present(need, cipher=request.app.ctx.cipher))


@bp.post("/<need_id:int>/follow-up")
@openapi.summary("Close a low rating's follow-up (回访) with a note (workers of the station)")
@openapi.secured("token")
@body(FollowUpIn)
@returns(NeedOut)
async def close_follow_up(request: Request, need_id: int):
    actor = await authenticate(request)
    async with atomic():
        need = await access_need(actor, need_id, purpose="manage")
        await needs.close_follow_up(need=need, actor=actor, note=request.ctx.body.note, now=request.app.ctx.clock())
    return respond(needs.present(await needs.load(need_id=need_id), cipher=request.app.ctx.cipher))


@bp.get("/<need_id:int>/timeline")
@openapi.summary("The need and its tasks' history")
@openapi.secured("token")
@returns(Timeline)
async def need_timeline(request: Request, need_id: int):
    actor = await authenticate(request)
    need = await access_need(actor, need_id)
    masked = not sees_need_unmasked(actor, need)
    return respond({"need": needs.present(need, cipher=request.app.ctx.cipher, masked=masked),
                    "events": await needs.timeline(need=need)})
