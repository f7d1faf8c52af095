import json

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import CursorQuery
from handlers.points.schemas import (
    AccountOut, AdjustmentIn, EntryOut, EntryPage, LeaderboardOut, LeaderboardQuery, PointsRulesIn, ReversalIn,
)
from server import idempotency
from server.access import access_points_entry, leaderboard_scope
from server.auth import authenticate
from server.http import body, dumps, query, respond, returns
from server.points import leaderboard, ledger
from server.transactions import atomic

bp = Blueprint("points", url_prefix="/api/v1/points")


@bp.get("/me")
@openapi.summary("My points: balance, earned, spent, verified service time")
@openapi.secured("token")
@returns(AccountOut)
async def my_points(request: Request):
    actor = await authenticate(request)
    return respond(ledger.present_account(await ledger.account_for(user_id=actor.id)))


@bp.get("/me/entries")
@openapi.summary("My ledger entries, newest first (cursor pages)")
@openapi.secured("token")
@query(CursorQuery)
@returns(EntryPage)
async def my_entries(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    rows, cursor = await ledger.entries(account=await ledger.account_for(user_id=actor.id), cursor=q.cursor, limit=q.limit)
    return respond({"items": [ledger.present_entry(e) for e in rows], "next_cursor": cursor})


@bp.get("/accounts")
@openapi.summary("Points of my station's volunteers (workers) or everyone's (admins)")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[AccountOut]})
async def accounts(request: Request):
    actor = await authenticate(request)
    actor.require("worker", "admin")
    station_id = None if actor.has("admin") else actor.station_id
    return respond([ledger.present_account(a) for a in await ledger.accounts_for_station(station_id=station_id)])


@bp.post("/reversals")
@openapi.summary("Reverse a service award with a reason (workers of the volunteer's station, admins)")
@openapi.secured("token")
@body(ReversalIn)
@openapi.response(201, {"application/json": list[EntryOut]})
async def reverse(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        await access_points_entry(actor, b.entry_id)
        posted = await ledger.reverse(entry_id=b.entry_id, actor_id=actor.id, reason=b.reason, now=request.app.ctx.clock())
    return respond([ledger.present_entry(e) for e in posted], status=201)


admin_bp = Blueprint("points_admin", url_prefix="/api/v1/admin/points-rules")
adjust_bp = Blueprint("points_adjust", url_prefix="/api/v1/admin/points")


@adjust_bp.post("/adjustments")
@openapi.summary("Credit or debit points by hand, with a reason (admins); audited in the ledger. "
                 "With an Idempotency-Key header, retries replay the answer")
@openapi.secured("token")
@openapi.parameter("Idempotency-Key", str, location="header", required=False)
@body(AdjustmentIn)
@openapi.response(201, {"application/json": EntryOut})
async def adjust(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    b = request.ctx.body
    sent = request.headers.get("idempotency-key")
    key = None if sent is None else idempotency.check_key(sent)
    digest = idempotency.request_hash(method="POST", path=request.path, body=request.body)
    await ledger.check_adjust(user_id=b.user_id, actor_id=actor.id)
    async with atomic():
        # The target account's lock is what makes a retry wait for, and then see, the first answer.
        account = await ledger.lock(user_id=b.user_id)
        if key is not None:
            previous = await idempotency.replay(user_id=actor.id, key=key, digest=digest)
            if previous is not None:
                return respond(previous.response, status=previous.status_code, headers={"Idempotent-Replayed": "true"})
        posted = await ledger.adjust(account=account, amount=b.amount, reason=b.reason, actor_id=actor.id,
                                     now=request.app.ctx.clock(), request_key=key)
        out = json.loads(dumps(ledger.present_entry(posted[0])))
        if key is not None:
            await idempotency.remember(user_id=actor.id, key=key, digest=digest, status=201, response=out)
    return respond(out, status=201)


@admin_bp.get("")
@openapi.summary("The earning rules in force")
@openapi.secured("token")
async def get_rules(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    return respond(await ledger.current_rules())


@admin_bp.put("")
@openapi.summary("Publish a new version of the earning rules")
@openapi.secured("token")
@body(PointsRulesIn)
async def put_rules(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    await ledger.store_shipped_rules()
    async with atomic():
        row = await ledger.publish_rules(rules=request.ctx.body.model_dump(), actor_id=actor.id)
    return respond(row.rules)


leaderboard_bp = Blueprint("leaderboard", url_prefix="/api/v1/leaderboard")


@leaderboard_bp.get("")
@openapi.summary("Leaderboards by station, district or city; monthly or all-time; points or hours")
@openapi.secured("token")
@query(LeaderboardQuery)
@returns(LeaderboardOut)
async def get_leaderboard(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    ctx = request.app.ctx
    scope_id = await leaderboard_scope(actor, q.scope)
    board = await leaderboard.read(redis=ctx.redis.aio, prefix=ctx.settings.redis_prefix, scope=q.scope, scope_id=scope_id,
                                   period=q.period, metric=q.metric, user_id=actor.id, limit=q.limit, now=ctx.clock())
    return respond(board)
