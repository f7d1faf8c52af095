import json

from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.points.schemas import FulfilIn, RedemptionOut, RewardIn, RewardOut, RewardPatch
from server import idempotency, ratelimit
from server.access import access_redemption, require_worker_station
from server.auth import authenticate
from server.http import body, dumps, respond, returns
from server.people import accounts
from server.points import ledger, rewards
from server.transactions import atomic

bp = Blueprint("rewards", url_prefix="/api/v1/rewards")
redemptions_bp = Blueprint("redemptions", url_prefix="/api/v1/redemptions")
admin_bp = Blueprint("rewards_admin", url_prefix="/api/v1/admin/rewards")


@bp.get("")
@openapi.summary("Rewards that can be redeemed now")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[RewardOut]})
async def list_rewards(request: Request):
    await authenticate(request)
    return respond([rewards.present_reward(r) for r in await rewards.list_available(now=request.app.ctx.clock())])


@bp.post("/<reward_id:int>/redeem")
@openapi.summary("Redeem a reward with points; send an Idempotency-Key header, retries replay the answer")
@openapi.secured("token")
@openapi.parameter("Idempotency-Key", str, location="header", required=True)
@returns(RedemptionOut, status=201)
async def redeem(request: Request, reward_id: int):
    actor = await authenticate(request)
    await ratelimit.hit(request, "redeem", user_id=actor.id)
    ctx = request.app.ctx
    key = idempotency.check_key(request.headers.get("idempotency-key"))
    digest = idempotency.request_hash(method="POST", path=request.path, body=request.body)
    # The account must exist before the transaction, so locking it is the transaction's first read.
    await ledger.account_for(user_id=actor.id)
    async with atomic():
        account = await ledger.lock(user_id=actor.id)
        previous = await idempotency.replay(user_id=actor.id, key=key, digest=digest)
        if previous is not None:
            return respond(previous.response, status=previous.status_code, headers={"Idempotent-Replayed": "true"})
        rules = await ledger.current_rules()
        redemption = await rewards.redeem(account=account, reward_id=reward_id, now=ctx.clock(),
                                          expiry_days=int(rules.get("redemption_expiry_days", 14)))
        out = json.loads(dumps((await rewards.present_redemptions([redemption]))[0]))
        await idempotency.remember(user_id=actor.id, key=key, digest=digest, status=201, response=out)
    return respond(out, status=201)


@redemptions_bp.get("/mine")
@openapi.summary("My redemptions, newest first")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[RedemptionOut]})
async def my_redemptions(request: Request):
    actor = await authenticate(request)
    account = await ledger.account_for(user_id=actor.id)
    return respond(await rewards.present_redemptions(await rewards.mine(account=account)))


@redemptions_bp.post("/<redemption_id:int>/cancel")
@openapi.summary("Cancel a redemption before pick-up: points and stock come back")
@openapi.secured("token")
@returns(RedemptionOut)
async def cancel(request: Request, redemption_id: int):
    actor = await authenticate(request)
    await ledger.account_for(user_id=actor.id)
    async with atomic():
        account = await ledger.lock(user_id=actor.id)
        redemption = await access_redemption(actor, redemption_id, account=account)
        await rewards.cancel(account=account, redemption=redemption, now=request.app.ctx.clock())
    await redemption.refresh_from_db()
    return respond((await rewards.present_redemptions([redemption]))[0])


@redemptions_bp.post("/fulfil")
@openapi.summary("Hand over a reward at a pick-up station by its code (workers), once")
@openapi.secured("token")
@body(FulfilIn)
@returns(RedemptionOut)
async def fulfil(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    async with atomic():
        redemption = await rewards.fulfil(code=request.ctx.body.code, station_id=station_id, worker_id=actor.id,
                                          now=request.app.ctx.clock())
    return respond((await rewards.present_redemptions([redemption]))[0])


@redemptions_bp.get("/<redemption_id:int>/wxacode")
@openapi.summary("The pick-up code as a mini-program code (PNG) to show at the station")
@openapi.secured("token")
@openapi.response(200, {"image/png": {"type": "string", "format": "binary"}})
async def pickup_wxacode(request: Request, redemption_id: int):
    actor = await authenticate(request)
    account = await ledger.account_for(user_id=actor.id)
    redemption = await access_redemption(actor, redemption_id, account=account)
    png = await accounts.wxacode(wechat=request.app.ctx.wechat, scene=f"r{redemption.pickup_code}",
                                 page="pages/redemption/index")
    return raw(png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@admin_bp.post("")
@openapi.summary("Register a donated reward")
@openapi.secured("token")
@body(RewardIn)
@returns(RewardOut, status=201)
async def create_reward(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        reward = await rewards.create(data=request.ctx.body.model_dump())
    return respond(rewards.present_reward(reward), status=201)


@admin_bp.patch("/<reward_id:int>")
@openapi.summary("Restock or retire a reward, or change its picture and pick-up place")
@openapi.secured("token")
@body(RewardPatch)
@returns(RewardOut)
async def update_reward(request: Request, reward_id: int):
    actor = await authenticate(request)
    actor.require("admin")
    b = request.ctx.body
    async with atomic():
        reward = await rewards.update(reward_id=reward_id, add_stock=b.add_stock or 0, status=b.status,
                                      shown=b.model_dump(exclude_unset=True, include=set(rewards.SHOWN_FIELDS)))
    return respond(rewards.present_reward(reward))
