from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import RejectIn
from handlers.workflow.schemas import (
    BulkConfirmIn, BulkConfirmOut, CheckInIn, ConfirmIn, DeliveryWayIn, OpenTasksQuery, RecordIn, StationTasksQuery,
    TaskList, TaskOut, TaskPage,
)
from server import labels, ratelimit
from server.access import access_task
from server.auth import authenticate
from server.errors import DomainError
from server.http import body, query, respond, returns
from server.transactions import atomic
from server.workflow import browse, claims, content, records, tasks

bp = Blueprint("tasks", url_prefix="/api/v1/tasks")


async def _show(request: Request, task_id: int, viewer: str | None = None, claim=None):
    ctx = request.app.ctx
    task = await tasks.load(task_id=task_id)
    if viewer is None:
        actor = await authenticate(request)
        task, viewer, claim = await access_task(actor, task_id)
    elif claim is not None:
        await claim.refresh_from_db()
    return respond(await tasks.present_full(task, cipher=ctx.cipher, viewer=viewer, claim=claim, now=ctx.clock()))


@bp.get("/open")
@openapi.summary("Open tasks for approved volunteers, nearest first; no names, phones or addresses")
@openapi.secured("token")
@query(OpenTasksQuery)
@returns(TaskList)
async def open_tasks(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    volunteer = await tasks.approved_volunteer(actor=actor)
    items = await browse.browse_open(volunteer=volunteer, lat=q.lat, lng=q.lng, radius_km=q.radius_km,
                                    service_code=q.service_code, now=request.app.ctx.clock(), limit=q.limit)
    return respond({"items": items})


@bp.get("/mine")
@openapi.summary("Tasks I have claimed (volunteers), active first")
@openapi.secured("token")
@returns(TaskList)
async def my_tasks(request: Request):
    actor = await authenticate(request)
    volunteer = await tasks.approved_volunteer(actor=actor)
    ctx = request.app.ctx
    items = [
        await tasks.present_full(task, cipher=ctx.cipher, viewer="claimant", claim=claim, now=ctx.clock())
        for task, claim in await tasks.claimed_by(volunteer=volunteer)
    ]
    return respond({"items": items})


@bp.get("/station")
@openapi.summary("My station's tasks (workers), oldest first; ?status=submitted: records awaiting confirmation")
@openapi.secured("token")
@query(StationTasksQuery)
@returns(TaskPage)
async def station_tasks(request: Request):
    actor = await authenticate(request)
    actor.require("worker")
    q, ctx = request.ctx.query, request.app.ctx
    rows, cursor = await tasks.for_station(station_id=actor.station_id, status=q.status, cursor=q.cursor, limit=q.limit)
    items = [await tasks.present_full(task, cipher=ctx.cipher, viewer="worker", now=ctx.clock(), claims=claims,
                                      service_name=task.service.name) for task, claims in rows]
    return respond({"items": items, "next_cursor": cursor})


@bp.get("/<task_id:int>")
@openapi.summary("A task; the claimant also gets the exact location and a masked contact")
@openapi.secured("token")
@returns(TaskOut)
async def get_task(request: Request, task_id: int):
    return await _show(request, task_id)


@bp.post("/<task_id:int>/claim")
@openapi.summary("Claim a slot of an open task; exactly one volunteer wins each slot")
@openapi.secured("token")
@returns(TaskOut)
async def claim_task(request: Request, task_id: int):
    actor = await authenticate(request)
    await ratelimit.hit(request, "claim", user_id=actor.id)
    ctx = request.app.ctx
    try:
        won = await ctx.claims.claim(actor=actor, task_id=task_id, now=ctx.clock(), limit=ctx.settings.claim_limit)
    except claims.PastClaiming as past:
        # A task the caller may not see is 404; one they may, the state it is in.
        await access_task(actor, task_id, purpose="view")
        raise past.refusal() from None
    # The task, the claim, its live claims and the need (with its household) are as committed.
    return respond(await tasks.present_full(won.task, cipher=ctx.cipher, viewer="claimant", claim=won.claim,
                                            now=ctx.clock(), need=won.need, claims=won.claims,
                                            service_name=won.service_name, station=won.station))


@bp.post("/<task_id:int>/release")
@openapi.summary("Give a claimed task back before checking in")
@openapi.secured("token")
@returns(TaskOut)
async def release_task(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        task, _, claim = await access_task(actor, task_id, purpose="claimant")
        await tasks.release(claim=claim, task=task, actor_id=actor.id, actor_role="volunteer", now=ctx.clock(),
                            reason="released by volunteer")
    return await _show(request, task_id, viewer="claimant", claim=claim)


@bp.post("/<task_id:int>/check-in")
@openapi.summary("Check in on site: household plate scene and/or location, within the time window")
@openapi.secured("token")
@body(CheckInIn)
@returns(TaskOut)
async def check_in(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    b = request.ctx.body
    async with atomic():
        task, _, claim = await access_task(actor, task_id, purpose="claimant")
        await records.check_in(task=task, claim=claim, scene=b.scene, lat=b.lat, lng=b.lng, cipher=ctx.cipher,
                             settings=ctx.settings, now=ctx.clock(), actor_id=actor.id)
    return await _show(request, task_id, viewer="claimant", claim=claim)


@bp.post("/<task_id:int>/record")
@openapi.summary("Submit the service record")
@openapi.secured("token")
@body(RecordIn)
@returns(TaskOut)
async def record(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    b = request.ctx.body
    screened = await content.screen(wechat=ctx.wechat, author=actor.user, text=b.summary, now=ctx.clock(), field="summary")
    async with atomic():
        task, _, claim = await access_task(actor, task_id, purpose="claimant")
        await records.submit_record(task=task, claim=claim, started_at=b.started_at, ended_at=b.ended_at,
                                  summary=b.summary, photos=b.photos, settings=ctx.settings, now=ctx.clock(),
                                  actor_id=actor.id, owner_user_id=actor.id, screened=screened)
    return await _show(request, task_id, viewer="claimant", claim=claim)


@bp.post("/<task_id:int>/confirm")
@openapi.summary("Confirm the submitted service (workers of the station); points become due")
@openapi.secured("token")
@body(ConfirmIn)
@returns(TaskOut)
async def confirm(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        await records.confirm(task=task, actor_id=actor.id, minutes=request.ctx.body.minutes,
                              reason=request.ctx.body.reason, settings=ctx.settings, now=ctx.clock())
    return await _show(request, task_id, viewer="worker")


@bp.post("/<task_id:int>/reject-record")
@openapi.summary("Send a service record back with a reason")
@openapi.secured("token")
@body(RejectIn)
@returns(TaskOut)
async def reject_record(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        await records.reject_record(task=task, actor_id=actor.id, reason=request.ctx.body.reason, now=ctx.clock())
    return await _show(request, task_id, viewer="worker")


@bp.post("/<task_id:int>/cancel")
@openapi.summary("Withdraw a task not yet under way (workers of the station)")
@openapi.secured("token")
@body(RejectIn)
@returns(TaskOut)
async def cancel_task(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        await tasks.cancel(task=task, actor_id=actor.id, reason=request.ctx.body.reason, now=ctx.clock())
    return await _show(request, task_id, viewer="worker")


@bp.put("/<task_id:int>/delivery-way")
@openapi.summary("Say how a task is delivered (服务方式: volunteers, purchased service, organisation, department, neighbour, charity; workers of the station)")
@openapi.secured("token")
@body(DeliveryWayIn)
async def set_delivery_way(request: Request, task_id: int):
    actor = await authenticate(request)
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        task = await tasks.set_delivery_way(task=task, way=request.ctx.body.delivery_way, actor_id=actor.id,
                                            now=request.app.ctx.clock())
    return respond({"id": task.id, "delivery_way": task.delivery_way,
                    "delivery_way_label": labels.label("delivery_way", task.delivery_way)})


@bp.post("/confirm")
@openapi.summary("Confirm many tasks at once; each is checked and reported on its own")
@openapi.secured("token")
@body(BulkConfirmIn)
@returns(BulkConfirmOut)
async def bulk_confirm(request: Request):
    actor = await authenticate(request)
    ctx = request.app.ctx
    results = await confirm_records(actor, request.ctx.body.ids, minutes=request.ctx.body.minutes,
                                    settings=ctx.settings, now=ctx.clock())
    return respond({"results": results})


async def confirm_records(actor, ids, *, minutes: int | None, settings, now) -> list[dict]:
    """Confirm the service records of many tasks, each checked and reported on its own (the API's
    bulk confirm and the console's): a task that fails leaves the others confirmed."""
    actor.require("worker")
    results = []
    for task_id in dict.fromkeys(ids):
        try:
            # One transaction per task: a bad id fails alone and leaves the others confirmed.
            async with atomic():
                task, _, _ = await access_task(actor, task_id, purpose="manage")
                await records.confirm(task=task, actor_id=actor.id, minutes=minutes, settings=settings, now=now)
            results.append({"id": task_id, "ok": True})
        except DomainError as exc:
            results.append({"id": task_id, "ok": False, "error": {"code": exc.code, "message": exc.message}})
    return results
