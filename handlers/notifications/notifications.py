from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import CursorQuery, Ok
from handlers.notifications.schemas import InboxOut, ReadIn, RetryIn, SubscriptionsIn
from server.access import require_worker_station
from server.auth import authenticate
from server.http import body, query, respond, returns
from server.notifications import notify, outbox
from server.transactions import atomic
from server.workflow import content


bp = Blueprint("notifications", url_prefix="/api/v1")


@bp.get("/subscriptions/templates")
@openapi.summary("Template ids per event, for wx.requestSubscribeMessage")
async def templates(request: Request):
    by_event = {event: spec["template_id"] for event, spec in notify.TEMPLATES.items()}
    return respond({"events": by_event, "template_ids": sorted(notify.TEMPLATE_IDS)})


@bp.post("/subscriptions")
@openapi.summary("Record what wx.requestSubscribeMessage returned; each accept is one more message")
@openapi.secured("token")
@body(SubscriptionsIn)
async def subscriptions(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        remaining = await notify.grant(user_id=actor.id, accepted=b.accepted, rejected=b.rejected)
    return respond({"remaining": remaining})


@bp.get("/notifications")
@openapi.summary("My inbox, newest first, with the unread count")
@openapi.secured("token")
@query(CursorQuery)
@returns(InboxOut)
async def inbox(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    rows, cursor, unread = await notify.inbox(user_id=actor.id, cursor=q.cursor, limit=q.limit)
    return respond({"items": [notify.present(n) for n in rows], "next_cursor": cursor, "unread": unread})


@bp.post("/notifications/read")
@openapi.summary("Mark notifications read: {ids: [...]} or {all: true}")
@openapi.secured("token")
@body(ReadIn)
@returns(Ok)
async def read(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        await notify.mark_read(user_id=actor.id, ids=None if b.all else b.ids, now=request.app.ctx.clock())
    return respond({"ok": True})


@bp.get("/admin/outbox/dead")
@openapi.summary("Dead letters: WeChat messages that could not be sent")
@openapi.secured("token")
async def dead_letters(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    rows = await outbox.dead_letters()
    return respond([{"id": r.id, "user_id": r.user_id, "template_id": r.template_id, "attempts": r.attempts,
                     "last_error": r.last_error, "created_at": r.created_at} for r in rows])


@bp.post("/admin/outbox/retry")
@openapi.summary("Send dead letters again")
@openapi.secured("token")
@body(RetryIn)
async def retry(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        count = await outbox.retry_dead(ids=request.ctx.body.ids, now=request.app.ctx.clock())
    return respond({"requeued": count})


@bp.get("/content/reviews")
@openapi.summary("Text held for review at my station (workers)")
@openapi.secured("token")
async def reviews(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    rows = await content.pending_for_station(station_id=station_id)
    return respond([{"id": r.id, "subject_type": r.subject_type, "subject_id": r.subject_id, "field": r.field,
                     "verdict": r.verdict, "reason": r.reason, "created_at": r.created_at} for r in rows])


@bp.post("/content/reviews/<flag_id:int>/resolve")
@openapi.summary("Mark a held text as reviewed")
@openapi.secured("token")
@returns(Ok)
async def resolve(request: Request, flag_id: int):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    async with atomic():
        await content.resolve(flag_id=flag_id, station_id=station_id, worker_id=actor.id, now=request.app.ctx.clock())
    return respond({"ok": True})
